"""Recording the SQL statements an app sends, to pin how many a code path costs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event

from photochanger.extensions import db


def record_statements(app: Any, *, first_word: bool = False) -> tuple[list[str], Callable[[], None]]:
    """A list that fills with each statement the app's engine executes, and a function to stop.

    ``first_word`` keeps only the verb (``SELECT``, ``INSERT``, ``WITH`` …), upper-cased.
    """
    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper() if first_word else statement)

    event.listen(engine, "before_cursor_execute", record)
    return seen, lambda: event.remove(engine, "before_cursor_execute", record)
