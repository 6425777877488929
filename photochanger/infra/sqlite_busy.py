"""SQLite lock waits that never stall a gevent worker.

SQLite's own busy handler sleeps inside the C library: with the old 30 s
``timeout`` one request waiting for a lock another process held froze every
other request of the worker (``/healthz`` included) for up to 30 s. Here the
library waits at most :data:`LOCK_POLL` seconds per try; between tries the
statement sleeps through ``time.sleep`` (gevent's under gunicorn), so the
worker serves its other requests, and after ``budget`` seconds the
``database is locked`` error reaches the error handler as a 503
``database_unavailable``.

Retrying a statement that got ``SQLITE_BUSY`` is what SQLite's busy handler
does itself: the statement had no effect.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

#: Seconds SQLite itself may block the worker on one try.
LOCK_POLL = 0.01
#: Cooperative pause between tries (seconds).
RETRY_PAUSE = 0.05
#: Default total wait for a lock (seconds): with the rest of a request, the 503 comes within 2 s.
DEFAULT_BUDGET = 1.5


def connect_args(budget: float) -> dict[str, Any]:
    """``connect_args`` for SQLAlchemy's pysqlite dialect."""
    return {"timeout": LOCK_POLL, "factory": _connection_class(budget)}


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "database is locked" in text or "database table is locked" in text


def _retry(budget: float, call: Any, *args: Any) -> Any:
    give_up = time.monotonic() + budget
    while True:
        try:
            return call(*args)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= give_up:
                raise
        time.sleep(RETRY_PAUSE)


def _connection_class(budget: float) -> type[sqlite3.Connection]:
    class Cursor(sqlite3.Cursor):
        def execute(self, sql: str, parameters: Any = (), /) -> Any:
            return _retry(budget, super().execute, sql, parameters)

        def executemany(self, sql: str, seq_of_parameters: Any, /) -> Any:
            return _retry(budget, super().executemany, sql, seq_of_parameters)

    class Connection(sqlite3.Connection):
        def cursor(self, factory: Any = Cursor) -> Any:  # type: ignore[override]
            return super().cursor(factory)

        def execute(self, sql: str, parameters: Any = (), /) -> Any:
            return self.cursor().execute(sql, parameters)

        def commit(self) -> None:
            _retry(budget, super().commit)

    return Connection
