"""A real nginx in front of the live gunicorn, configured from nginx/photochanger.conf."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping

import requests

from . import processes
from .live_server import ROOT
from .net import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TEMPLATE = os.path.join(ROOT, "nginx", "photochanger.conf")
_PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")


def render(template: str, values: Mapping[str, str]) -> str:
    """envsubst for the named variables only: nginx's own ``$vars`` stay as they are."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"template variable {name} has no value")
        return values[name]

    return _PLACEHOLDER.sub(sub, template)


class NginxServer:
    """nginx as the current user, everything (pid, temp, logs) under ``workdir``."""

    def __init__(self, workdir: str, upstream: str | list[str], media_root: str) -> None:
        """``upstream``: one app host's ``host:port``, or several (the first is the template's own)."""
        first, *more = [upstream] if isinstance(upstream, str) else upstream
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        os.makedirs(workdir, exist_ok=True)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(workdir, sub), exist_ok=True)
        with open(TEMPLATE, encoding="utf-8") as fh:
            site = render(
                fh.read(),
                {
                    "PHOTOCHANGER_UPSTREAM": first,
                    # One line: the template's header comment names the variable too.
                    "PHOTOCHANGER_MORE_UPSTREAMS": " ".join(
                        f"server {host} max_fails=1 fail_timeout=10s;" for host in more
                    ),
                    "PHOTOCHANGER_LISTEN": f"127.0.0.1:{self.port}",
                    "PHOTOCHANGER_SERVER_NAME": "localhost",
                    "PHOTOCHANGER_RESOLVER": "",  # the test S3 server is an IP address
                    "MEDIA_ROOT": os.path.abspath(media_root),
                },
            )
        site_path = os.path.join(workdir, "photochanger.conf")
        with open(site_path, "w", encoding="utf-8") as fh:
            fh.write(site)
        # As root, nginx's workers would drop to "nobody", who cannot read the test's files.
        user = "user root;\n" if os.geteuid() == 0 else ""
        w = workdir
        main = f"""{user}worker_processes 1;
daemon off;
pid {w}/nginx.pid;
error_log {w}/error.log info;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format upstream '$request $status upstream_status=$upstream_status '
                        'x_accel=$upstream_http_x_accel_redirect rid=$upstream_http_x_request_id';
    access_log {w}/access.log upstream;
    client_body_temp_path {w}/client_body;
    proxy_temp_path {w}/proxy;
    fastcgi_temp_path {w}/fastcgi;
    uwsgi_temp_path {w}/uwsgi;
    scgi_temp_path {w}/scgi;
    include {site_path};
}}
"""
        self.conf = os.path.join(workdir, "nginx.conf")
        with open(self.conf, "w", encoding="utf-8") as fh:
            fh.write(main)
        check = subprocess.run(
            [NGINX, "-t", "-p", workdir, "-c", self.conf, "-e", f"{w}/error.log"],
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
        self._out = open(os.path.join(workdir, "stdout.log"), "wb")
        self.proc = subprocess.Popen(
            [NGINX, "-p", workdir, "-c", self.conf, "-e", f"{w}/error.log"],
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        def probe() -> object:
            return requests.get(f"{self.url}/healthz", timeout=1)

        # A loaded machine may answer the proxied /healthz late: that is not nginx failing to start.
        errors = (requests.ConnectionError, requests.Timeout)
        processes.wait_ready(self.proc, probe, "nginx", errors, self.error_log, timeout=30.0)

    def access_log(self) -> str:
        return _read(os.path.join(self.workdir, "access.log"))

    def error_log(self) -> str:
        return _read(os.path.join(self.workdir, "error.log"))

    def stop(self) -> None:
        processes.stop(self.proc, signal.SIGTERM)  # fast shutdown
        self._out.close()


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except FileNotFoundError:
        return ""
