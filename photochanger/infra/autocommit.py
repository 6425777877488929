"""Statements without a transaction around them, on PostgreSQL, for the ingest hot path.

psycopg2 sends ``BEGIN`` as a round trip of its own before a transaction's
first statement, and ``COMMIT`` is another: around the ingest's one- and
two-statement transactions they more than doubled the round trips to the
server. SQLAlchemy's ``isolation_level="AUTOCOMMIT"`` would remove them but
adds two of its own (psycopg2 sends ``SET default_transaction_isolation`` when
the level is set and again when the pool resets it), so the DBAPI
connection's ``autocommit`` flag is switched directly: with the isolation level
left at its default, psycopg2 switches it without a word to the server.

On SQLite there is nothing to gain (a statement is a function call, not a
round trip) and :func:`autocommit` does nothing.
"""

from __future__ import annotations

from typing import Any

import psycopg2.extensions
from sqlalchemy import Engine, event

from photochanger.extensions import db


def install(engine: Engine) -> None:
    """Hand out every pooled PostgreSQL connection with transactions on."""
    if engine.dialect.name == "postgresql":
        event.listen(engine, "checkout", _transactions_on)


def autocommit() -> None:
    """Run the session's statements in autocommit until its next commit or rollback.

    For reads, and for writes that are single statements: each is then atomic
    on its own, and READ COMMITTED gave each statement its own snapshot anyway.
    Call it before the session's transaction runs a statement; once one has run,
    the transaction stays (and the caller's commit ends it as usual).
    """
    session = db.session()
    if session.get_bind().dialect.name != "postgresql":
        return
    raw = session.connection().connection.dbapi_connection
    if raw is not None and raw.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE:
        raw.autocommit = True


def _transactions_on(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    # The pool's reset on return is a rollback, which autocommit makes a no-op:
    # the flag itself must go back before anyone else gets the connection.
    if dbapi_connection.autocommit:
        dbapi_connection.autocommit = False
