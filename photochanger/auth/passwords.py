"""bcrypt hashing and a small cache of successful checks.

bcrypt is deliberately slow; a booth sends the same
password with every photo, so successful checks are remembered in-process,
keyed by the stored hash and a SHA-256 of the password.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import threading
from collections import OrderedDict

import bcrypt

from photochanger.infra.background import in_thread

_CACHE_SIZE = 256
_verified: OrderedDict[tuple[str, str], bool] = OrderedDict()
_lock = threading.Lock()


#: Shortest booth (ingest) password accepted wherever it is set: guesses are
#: throttled per address, not per booth, so the password itself must hold.
MIN_INGEST_PASSWORD = 8


#: bcrypt reads at most this many bytes of a password; newer bcrypt refuses longer ones.
_BCRYPT_MAX_BYTES = 72


def _secret(password: str) -> bytes:
    """The bytes bcrypt hashes: UTF-8, cut to bcrypt's 72 the same way when set and when checked.

    A schema allows any string up to its length in characters; a long Cyrillic one is
    more than 72 bytes, which bcrypt 4.1+ refuses with an error instead of cutting.
    """
    return password.encode("utf-8")[:_BCRYPT_MAX_BYTES]


def hash_password(password: str, rounds: int = 12) -> str:
    """A bcrypt hash of ``password`` (UTF-8, at most 72 bytes are significant)."""
    return bcrypt.hashpw(_secret(password), bcrypt.gensalt(rounds)).decode("ascii")


def check_password(password: str, password_hash: str | None) -> bool:
    """Constant-time bcrypt check; successful checks are cached."""
    if not password or not password_hash:
        return False
    key = (password_hash, hashlib.sha256(password.encode("utf-8")).hexdigest())
    with _lock:
        if key in _verified:
            _verified.move_to_end(key)
            return True
    try:
        # In an OS thread: bcrypt releases the GIL, and a check (a worker's first
        # ingest, every wrong password, every admin login) would otherwise stop
        # the worker's event loop, and every booth it serves, for the whole check.
        ok = in_thread(bcrypt.checkpw, _secret(password), password_hash.encode("ascii"))()
    except ValueError:
        return False
    if ok:
        with _lock:
            _verified[key] = True
            while len(_verified) > _CACHE_SIZE:
                _verified.popitem(last=False)
    return ok


def generate_password(length: int = 10) -> str:
    """A random password easy to type on a booth PC (lower-case letters and digits)."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))
