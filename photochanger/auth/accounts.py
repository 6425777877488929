"""Static admin accounts from the credentials file (DESIGN.md §6).

Format: ``{"admins": [{"username": "serg", "password_hash": "<bcrypt>"}]}``.
The file is re-read when it changes (mtime/size), so adding or removing an
admin needs no restart.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from dataclasses import dataclass
from typing import Any

from photochanger.auth.passwords import check_password, generate_password, hash_password

_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
#: Checked when the username is unknown, so both cases cost one bcrypt round
#: and timing does not reveal which usernames exist.
_DUMMY_HASH = "$2b$12$WRRHIHLravtbYJ3S6waGCO3383AKrMOz02nClkNur4fFPXgkyJeeS"


class CredentialsError(Exception):
    """The credentials file is missing or malformed; the message names both."""


@dataclass(frozen=True)
class Accounts:
    path: str
    hashes: dict[str, str]


_cache: dict[str, tuple[tuple[int, int], Accounts]] = {}
_lock = threading.Lock()


def resolve_path(configured: str, root: str) -> str:
    """Relative paths are relative to the project root, like templates and static."""
    return configured if os.path.isabs(configured) else os.path.join(root, configured)


def load_accounts(path: str) -> Accounts:
    """Parse and validate the file, or raise :class:`CredentialsError`."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CredentialsError(
            f"admin credentials file {path} not found; create it with `flask admin-bootstrap`"
        ) from None
    stamp = (st.st_mtime_ns, st.st_size)
    with _lock:
        hit = _cache.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    accounts = _parse(path)
    with _lock:
        _cache[path] = (stamp, accounts)
    return accounts


def _parse(path: str) -> Accounts:
    def bad(problem: str) -> CredentialsError:
        return CredentialsError(f"admin credentials file {path} is malformed: {problem}")

    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise bad(f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"admin credentials file {path} cannot be read: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("admins"), list):
        raise bad('expected an object {"admins": [...]}')
    if not data["admins"]:
        raise bad('"admins" is empty: at least one account is needed')
    hashes: dict[str, str] = {}
    for i, entry in enumerate(data["admins"]):
        if not isinstance(entry, dict):
            raise bad(f"admins[{i}] is not an object")
        username, pw_hash = entry.get("username"), entry.get("password_hash")
        if not isinstance(username, str) or not username.strip():
            raise bad(f"admins[{i}].username is missing or empty")
        if not isinstance(pw_hash, str) or not pw_hash.startswith(_BCRYPT_PREFIXES) or len(pw_hash) != 60:
            raise bad(f"admins[{i}].password_hash is not a bcrypt hash (make one with `flask hash-password`)")
        if username in hashes:
            raise bad(f"admins[{i}]: duplicate username {username!r}")
        hashes[username] = pw_hash
    return Accounts(path, hashes)


def authenticate(accounts: Accounts, username: str, password: str) -> bool:
    """True when ``username`` exists and ``password`` matches its bcrypt hash."""
    pw_hash = accounts.hashes.get(username)
    ok = check_password(password, pw_hash or _DUMMY_HASH)
    return ok and pw_hash is not None


def bootstrap(path: str, username: str = "admin") -> str | None:
    """Make sure ``username`` can log in; return its new random password, or ``None``.

    A missing file is created with that one account; an existing valid file gets
    the account added when it is not there yet, and is only validated when it is.
    A malformed file raises :class:`CredentialsError` rather than being overwritten.
    """
    username = username.strip()
    if not username:
        raise CredentialsError("the admin username must not be empty")
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    # One writer at a time: two bootstraps never lose each other's account.
    with open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = _entries(load_accounts(path)) if os.path.exists(path) else []
        if any(entry["username"] == username for entry in entries):
            return None
        password = generate_password(16)
        entries.append({"username": username, "password_hash": hash_password(password)})
        _write(path, {"admins": entries})
    return password


def usernames(path: str) -> list[str]:
    """The accounts of the file, in file order (never their hashes)."""
    return list(load_accounts(path).hashes)


def _entries(accounts: Accounts) -> list[dict[str, str]]:
    return [{"username": name, "password_hash": pw_hash} for name, pw_hash in accounts.hashes.items()]


def _write(path: str, body: dict[str, Any]) -> None:
    """Replace the file atomically, readable by its owner only."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(body, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)
