"""Pooled PostgreSQL connections checked on checkout without a round trip.

SQLAlchemy's ``pool_pre_ping`` sends ``SELECT 1`` to the server on every
checkout and waits for the answer: four of the nine round trips of an ingest.
A connection the server has dropped (a restart, ``pg_terminate_backend``,
``idle_session_timeout``, a proxy's idle timeout) has already said so on its
socket: a ``FATAL`` message, then the close. psycopg2's ``poll()`` reads what
has arrived, without blocking and without sending anything; a session that
heard from the server while idle, or whose socket is closed, is replaced by
the pool before any statement runs on it.

Neither check sees a peer that vanished without a word (a host frozen, a
cable pulled): a ping would wait for TCP's timeout just the same.

On SQLite there is no connection to lose and nothing is installed.
"""

from __future__ import annotations

from typing import Any

import psycopg2
from sqlalchemy import Engine, event, exc


def install(engine: Engine) -> None:
    """Check each pooled PostgreSQL connection as it is checked out.

    Install it before any other checkout listener, so none runs on a
    connection that is gone.
    """
    if engine.dialect.name == "postgresql":
        event.listen(engine, "checkout", _still_connected)


def _still_connected(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    # Nothing may arrive on an idle session: the app does not LISTEN, and a
    # server ending one sends FATAL (in its own language) before it closes.
    # The close may trail that message, so the message alone is the verdict.
    kept, dbapi_connection.notices = dbapi_connection.notices, []
    try:
        dbapi_connection.poll()  # reads what has arrived; raises on a closed socket
    except psycopg2.Error as err:
        # DisconnectionError makes the pool open a new connection and check that.
        raise exc.DisconnectionError(f"the pooled session is gone: {err}".strip()) from err
    finally:
        heard, dbapi_connection.notices = dbapi_connection.notices, kept
    if heard:
        raise exc.DisconnectionError(f"the server ended the pooled session: {heard[-1]}".strip())
