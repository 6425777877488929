"""Primary-key look-ups of ids taken from URLs."""

from __future__ import annotations

from typing import TypeVar

from werkzeug.routing import BaseConverter

from photochanger.extensions import db

T = TypeVar("T")

#: Job and media ids are 32 hex characters; anything longer is never stored.
MAX_ID_LENGTH = 64


def by_url_id(model: type[T], key: str) -> T | None:
    """The row whose primary key is ``key``, or ``None``.

    A guest's URL may carry any string: over-long ids and ids with a NUL are
    answered without a query (PostgreSQL would reject either).
    """
    if len(key) > MAX_ID_LENGTH or "\x00" in key:  # PostgreSQL refuses a NUL in any string
        return None
    return db.session.get(model, key)


class HexId(BaseConverter):
    """``<hexid:media_id>``: 32 hex digits, so ``/api/media/register`` never also routes to the id route.

    Without it an OPTIONS answer (and a 405's ``Allow``) for such a path lists the id route's methods too.
    """

    regex = "[0-9a-f]{32}"
