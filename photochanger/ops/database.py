"""The database in one file: ``pg_dump`` (custom format) or SQLite's online backup API.

Both read a consistent snapshot while the app keeps writing. Restoring replaces the
whole database in one transaction: it fails whole or succeeds whole.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess

from sqlalchemy import column, inspect, select, table
from sqlalchemy.engine import URL, Engine

from photochanger.ops import BackupError

POSTGRESQL = "postgresql"
SQLITE = "sqlite"
#: The file each engine's dump is stored as, inside the backup folder.
DUMP_FILE = {POSTGRESQL: "database.pgdump", SQLITE: "database.sqlite3"}
_VERSION_TABLE = "alembic_version"
#: Tables ``flask db upgrade`` itself fills: their rows are no sign of a database in use.
_MIGRATION_TABLES = {_VERSION_TABLE, "config_generation"}


def engine_kind(engine: Engine) -> str:
    kind = engine.url.get_backend_name()
    if kind not in DUMP_FILE:
        raise BackupError(f"unsupported database {kind!r}: only PostgreSQL and SQLite")
    return kind


def revision(engine: Engine) -> str | None:
    """The schema's migration revision (``flask db upgrade``), ``None`` on a bare database."""
    if _VERSION_TABLE not in inspect(engine).get_table_names():
        return None
    with engine.connect() as conn:
        return conn.execute(select(column("version_num")).select_from(table(_VERSION_TABLE))).scalar()


def tables_with_rows(engine: Engine) -> list[str]:
    """Tables holding data; the ones a fresh migration fills do not count."""
    names = sorted(set(inspect(engine).get_table_names()) - _MIGRATION_TABLES)
    with engine.connect() as conn:
        return [name for name in names if conn.execute(select(1).select_from(table(name)).limit(1)).first()]


def dump(engine: Engine, path: str) -> None:
    """Write the database to ``path``."""
    if engine_kind(engine) == POSTGRESQL:
        _run_pg("pg_dump", engine.url, "--format=custom", "--no-owner", "--no-privileges", f"--file={path}")
        return
    source = sqlite3.connect(_sqlite_file(engine.url))
    target = sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def restore(engine: Engine, path: str) -> None:
    """Replace the database's contents by the dump at ``path``."""
    engine.dispose()  # the app's own pooled connections would hold locks
    if engine_kind(engine) == POSTGRESQL:
        _run_pg(
            "pg_restore",
            engine.url,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            path,
        )
        return
    target_file = _sqlite_file(engine.url)
    os.makedirs(os.path.dirname(os.path.abspath(target_file)), exist_ok=True)
    source = sqlite3.connect(path)
    target = sqlite3.connect(target_file)
    try:
        source.backup(target)
    except sqlite3.OperationalError as exc:  # e.g. a running server holds a write lock
        raise BackupError(f"SQLite restore failed: {exc} (stop the app first)") from exc
    finally:
        target.close()
        source.close()


def _sqlite_file(url: URL) -> str:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up or restore")
    return url.database


def _run_pg(tool: str, url: URL, *args: str) -> None:
    """Run a PostgreSQL client tool on ``url``; the password goes by environment, not argv."""
    binary = shutil.which(tool)
    if binary is None:
        raise BackupError(f"{tool} not found: install the PostgreSQL client (Debian: postgresql-client)")
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    dbname = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    done = subprocess.run(  # noqa: S603 - the binary is found on PATH, arguments are ours
        [binary, f"--dbname={dbname}", *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-3:]
        raise BackupError(f"{tool} failed (exit {done.returncode}): " + " / ".join(detail))
