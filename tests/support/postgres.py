"""A private PostgreSQL cluster for the test session.

PostgreSQL refuses to run as root, so when the suite runs as root the
cluster is created and started as the ``postgres`` system user, in a fresh
folder, on a free loopback port. Durability is switched off: tests need a
real server, not crash safety.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import psycopg2
from sqlalchemy.engine import URL

from .net import free_port


def _bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    return os.path.dirname(found[-1])


class PostgresCluster:
    def __init__(self, in_ram: bool = False) -> None:
        """``in_ram`` suits the suite's many short-lived copies of one template database: the
        folder goes on the RAM disk when there is one, and little WAL is kept. The bench leaves
        it off, so its figures stay those of a disk."""
        self.bindir = _bindir()
        ram = "/dev/shm" if in_ram and os.access("/dev/shm", os.W_OK) else None
        self.datadir = tempfile.mkdtemp(prefix="photochanger-pg-", dir=ram)
        self._in_ram = in_ram
        self.port = free_port()
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.datadir, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/tmp")

    def start(self) -> None:
        self._run(
            f"{self.bindir}/initdb",
            "-D",
            self.datadir,
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        opts = (
            f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300 "
            # which database a logged statement ran in (tests count an ingest's round trips)
            "-c log_line_prefix=db=%d:"
        )
        if self._in_ram:
            # each copy of the template is logged whole: recycle a little WAL instead of growing it
            opts += " -c max_wal_size=64MB -c min_wal_size=32MB"
        self._run(
            f"{self.bindir}/pg_ctl",
            "-D",
            self.datadir,
            "-o",
            opts,
            "-l",
            f"{self.datadir}/server.log",
            "-w",
            "start",
        )

    def server_pid(self) -> int:
        """The postmaster's PID (its backends are its children)."""
        with open(os.path.join(self.datadir, "postmaster.pid")) as fh:
            return int(fh.readline())

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def _admin(self) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        conn.autocommit = True
        return conn

    def create_database(self, template: str | None = None) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                for attempt in range(20):
                    try:
                        if template:
                            cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                        else:
                            cur.execute(f'CREATE DATABASE "{name}"')
                        break
                    except psycopg2.errors.ObjectInUse:  # template still has a session
                        if attempt == 19:
                            raise
                        time.sleep(0.1)
        finally:
            conn.close()
        return name

    def drop_database(self, name: str) -> None:
        """Drops ``name``, ending any session still connected to it."""
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            conn.close()

    def stop(self) -> None:
        try:
            self._run(f"{self.bindir}/pg_ctl", "-D", self.datadir, "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.datadir, ignore_errors=True)


class TemplateClones:
    """Fresh databases copied from one migrated template; :meth:`drop` one once its test is done."""

    def __init__(self, cluster: PostgresCluster, template: str) -> None:
        self.cluster = cluster
        self.template = template

    def __call__(self) -> str:
        return self.cluster.url(self.cluster.create_database(template=self.template))

    def drop(self, url: str) -> None:
        self.cluster.drop_database(url.rsplit("/", 1)[1])


def psycopg2_url(url: URL) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg2://…``) as psycopg2 itself takes it."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def log_statements(url: str) -> str:
    """Have the server log every statement of ``url``'s database; returns the log file.

    The setting reaches sessions opened afterwards: dispose of pooled connections
    first. Lines carry ``db=<name>:`` (the cluster's ``log_line_prefix``).
    """
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f"ALTER DATABASE \"{conn.info.dbname}\" SET log_statement = 'all'")
            cur.execute("SHOW data_directory")
            row = cur.fetchone()
    finally:
        conn.close()
    assert row is not None
    return os.path.join(row[0], "server.log")


def statements_logged(log: str, start: int, database: str, last: str, wait: float = 5.0) -> list[str]:
    """Each statement the server logged for ``database`` after byte ``start``, its first line.

    The server writes its log as it goes and the last line may trail the
    answer: reads until the last statement starts with ``last`` or ``wait``
    seconds have passed.
    """
    marker = f"db={database}:LOG:  statement: "
    deadline = time.monotonic() + wait
    while True:
        with open(log, encoding="utf-8", errors="replace") as fh:
            fh.seek(start)
            found = [line.split(marker, 1)[1].rstrip("\n") for line in fh if marker in line]
        if (found and found[-1].upper().startswith(last)) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
