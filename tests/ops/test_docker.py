"""Dockerfile, entrypoint and docker-compose.yml (no Docker engine here: checked by parsing
the files and by running the entrypoint script itself against SQLite)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests
import yaml

from tests.support.live_server import ROOT
from tests.support.net import free_port
from tests.support.nginx import _PLACEHOLDER, TEMPLATE


def _compose():
    with open(os.path.join(ROOT, "docker-compose.yml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _dockerfile():
    with open(os.path.join(ROOT, "Dockerfile"), encoding="utf-8") as fh:
        return fh.read()


def _docker_env():
    """ENV values of the Dockerfile (``ENV A=1 \\ B=2`` blocks)."""
    text = _dockerfile().replace("\\\n", " ")
    env = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line)))
    return env


def test_dockerfile_is_small_non_root_and_copies_what_exists():
    text = _dockerfile()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    user = re.findall(r"^USER (\S+)$", text, re.M)
    assert user and user[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["/app/docker/entrypoint.sh"]' in text
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        *sources, _dest = line.split()
        for src in sources:
            assert os.path.exists(os.path.join(ROOT, src)), src
    assert os.access(os.path.join(ROOT, "docker", "entrypoint.sh"), os.X_OK)
    env = _docker_env()
    assert env["HOST"] == "0.0.0.0" and env["MEDIA_ROOT"] == "/data/media"


def test_compose_wiring():
    compose = _compose()
    services = compose["services"]
    assert set(services) >= {"db", "app", "nginx", "cleanup"}
    db, app, nginx = services["db"], services["app"], services["nginx"]

    assert db["image"].startswith("postgres:15")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(v.startswith("pgdata:") for v in db["volumes"])

    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert "@db:5432/" in app["environment"]["DATABASE_URL"]
    assert app["environment"]["USE_X_ACCEL_REDIRECT"] == "1"
    # lockouts key on the client nginx forwards, not on nginx's own address
    assert app["environment"]["TRUSTED_PROXY_COUNT"] == "1"
    assert nginx["depends_on"]["app"]["condition"] == "service_healthy"

    # nginx renders the shipped template and reads the same media volume the app writes
    media_root = _docker_env()["MEDIA_ROOT"]
    assert f"media:{media_root}" in app["volumes"]
    assert f"media:{media_root}:ro" in nginx["volumes"]
    assert "./nginx/photochanger.conf:/etc/nginx/templates/default.conf.template:ro" in nginx["volumes"]
    with open(TEMPLATE, encoding="utf-8") as fh:
        needed = set(_PLACEHOLDER.findall(fh.read()))
    assert needed <= set(nginx["environment"])
    assert nginx["environment"]["MEDIA_ROOT"] == media_root
    upstream = nginx["environment"]["PHOTOCHANGER_UPSTREAM"]
    assert upstream == f"app:{_docker_env()['PORT']}"
    filt = re.compile(nginx["environment"]["NGINX_ENVSUBST_FILTER"])
    assert all(filt.search(name) for name in needed)
    assert not filt.search("HOSTNAME")

    assert "cleanup-media" in " ".join(services["cleanup"]["entrypoint"])
    assert set(compose["volumes"]) >= {"pgdata", "media", "instance"}


def test_compose_scales_the_app_behind_nginx_with_shared_redis_and_s3():
    """``docker compose up --scale app=2``: replicas share Redis, the database and media, not their
    per-process folders; nginx balances over every replica of the ``app`` name."""
    services = _compose()["services"]
    app, redis, s3, nginx = services["app"], services["redis"], services["s3"], services["nginx"]

    assert redis["image"].startswith("redis:")
    assert "ping" in " ".join(redis["healthcheck"]["test"])
    env = app["environment"]
    assert re.fullmatch(r"\$\{REDIS_URL:-redis://redis:6379/\d+\}", env["REDIS_URL"])
    # the app starts (and serves on host-local limits) while Redis is down
    assert app["depends_on"]["redis"]["condition"] == "service_started"

    # scalable: no fixed name or host port, which a second replica could not take
    assert "container_name" not in app and "ports" not in app
    instance = _docker_env()["INSTANCE_PATH"]
    for name in ("PROMETHEUS_MULTIPROC_DIR", "LOCK_DIR"):
        assert not env[name].startswith(instance), f"{name} must be per replica, not on the shared volume"
    assert nginx["environment"]["PHOTOCHANGER_UPSTREAM"].startswith("app:")
    assert nginx["environment"]["PHOTOCHANGER_MORE_UPSTREAMS"] == ""

    assert "seaweedfs" in s3["image"]
    assert "-s3" in s3["command"] and "server" in s3["command"]
    assert any(v.startswith("s3data:") for v in s3["volumes"])


def test_compose_keeps_media_in_the_s3_service():
    """Every replica and cleanup use one bucket in the s3 service, signed with the keys the
    s3 service is started with; the bucket exists before any replica starts."""
    services = _compose()["services"]
    app, s3, init, nginx = services["app"], services["s3"], services["s3-init"], services["nginx"]
    env = app["environment"]
    assert env["MEDIA_STORAGE"] == "s3"
    assert env["S3_ENDPOINT_URL"] == f"http://s3:{s3['command'][-1].split('=')[1]}"
    assert env["S3_ACCESS_KEY_ID"] == s3["environment"]["AWS_ACCESS_KEY_ID"]
    assert env["S3_SECRET_ACCESS_KEY"] == s3["environment"]["AWS_SECRET_ACCESS_KEY"]
    for name in ("MEDIA_STORAGE", "S3_ENDPOINT_URL", "S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"):
        assert services["cleanup"]["environment"][name] == init["environment"][name] == env[name], name
    assert app["depends_on"]["s3-init"]["condition"] == "service_completed_successfully"
    assert init["depends_on"]["s3"]["condition"] == "service_started" and init["restart"] == "no"
    # accel downloads: nginx fetches the presigned URL from "s3", a name it resolves with Docker's DNS
    assert env["S3_DOWNLOADS"] == "accel"
    assert re.fullmatch(r"resolver 127\.0\.0\.11 valid=\d+s;", nginx["environment"]["PHOTOCHANGER_RESOLVER"])


def test_the_compose_bucket_step_creates_the_bucket_once(s3_server):
    """The s3-init script itself, against a real S3 server: creates the bucket, then is a no-op."""
    init = _compose()["services"]["s3-init"]
    bucket = f"pc-init-{os.urandom(4).hex()}"
    path = f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}"  # python with boto3
    env = {**os.environ, "PATH": path, **s3_server.env(bucket)}
    for _ in range(2):
        run = subprocess.run(init["entrypoint"], env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0 and f"bucket ready: {bucket}" in run.stdout, run.stdout + run.stderr
    names = [b["Name"] for b in s3_server.client().list_buckets()["Buckets"]]
    assert names.count(bucket) == 1


def test_nginx_fails_over_only_what_is_safe_to_repeat():
    """GET/HEAD go to the next app host on a refused connection or 502-504; a POST is never repeated."""
    with open(TEMPLATE, encoding="utf-8") as fh:
        conf = fh.read()
    directives = dict(re.findall(r"^\s*(proxy_next_upstream\w*) ([^;]+);", conf, re.M))
    retry = directives["proxy_next_upstream"].split()
    assert {"error", "timeout"} <= set(retry)
    assert "non_idempotent" not in retry and "off" not in retry
    assert int(directives["proxy_next_upstream_tries"]) >= 2
    assert re.search(r"^\s*proxy_request_buffering off;", conf, re.M)  # a streamed body is never replayed
    assert re.search(r"server \$\{PHOTOCHANGER_UPSTREAM\} max_fails=\d+ fail_timeout=\d+s;", conf)


def _entrypoint_env(tmp_path, port):
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    return {
        **os.environ,
        "PATH": f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}",
        "APP_HOME": ROOT,
        "DATABASE_URL": f"sqlite:///{instance}/docker.db",
        "INSTANCE_PATH": str(instance),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "LOCK_DIR": str(instance / "locks"),
        "ADMIN_CREDENTIALS_FILE": str(instance / "runtime_credentials.json"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_ACCESSLOG": "",
    }


def test_entrypoint_migrates_seeds_and_serves(tmp_path, request):
    if request.config.getoption("--db") != "sqlite":
        pytest.skip("independent of the suite's database: runs once, in the SQLite pass")
    port = free_port()
    env = _entrypoint_env(tmp_path, port)
    log_path = tmp_path / "entrypoint.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            ["sh", os.path.join(ROOT, "docker", "entrypoint.sh")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            healthy = None
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    healthy = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                    break
                except requests.ConnectionError:
                    time.sleep(0.2)
            output = log_path.read_text(errors="replace")
            assert healthy is not None, output
            assert healthy.status_code == 200, healthy.text
            assert "created 15 slot(s)" in output
            assert "ingest password:" in output
            assert "admin password:" in output
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # gunicorn was exec'd: the script's pid is gunicorn's
                proc.wait(timeout=20)

    # a second start is idempotent, and a command argument replaces gunicorn
    again = subprocess.run(
        ["sh", os.path.join(ROOT, "docker", "entrypoint.sh"), "flask", "cleanup-media"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "created 0 slot(s), kept 15 existing" in again.stdout
    assert "ingest password already set; kept" in again.stdout
    assert "expired media removed: 0" in again.stdout


def test_entrypoint_stops_at_the_first_failing_step(tmp_path):
    env = _entrypoint_env(tmp_path, free_port())
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/missing-folder/x.db"
    result = subprocess.run(
        ["sh", os.path.join(ROOT, "docker", "entrypoint.sh"), "echo", "SHOULD-NOT-RUN"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SHOULD-NOT-RUN" not in result.stdout


def test_compose_rotates_every_container_log():
    for name, service in _compose()["services"].items():
        options = service.get("logging", {}).get("options", {})
        assert options.get("max-size") and options.get("max-file"), name
