"""Server-side secrets: the persisted signing secret and encryption at rest.

Provider API keys saved by admins are stored encrypted with Fernet
(AES-128-CBC + HMAC-SHA256). The Fernet key is derived with HKDF-SHA256 from
the application ``SECRET_KEY`` (which defaults to the JWT secret), so the
database alone never reveals a key.
"""

from __future__ import annotations

import base64
import os
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INSTANCE_SECRET_FILE = "jwt_secret"  # noqa: S105 - a file name, not a secret
_HKDF_SALT = b"photochanger"
_HKDF_INFO = b"photochanger/provider-keys/v1"


class SecretUnreadable(Exception):
    """A stored ciphertext does not decrypt with the current ``SECRET_KEY``."""


def instance_secret(instance_path: str) -> str:
    """The secret in ``instance/jwt_secret``, created (mode 0600) on first use.

    Creation is race-free between gunicorn workers: the secret is written to a
    private temporary file and hard-linked into place, which fails when
    another process won; everybody then reads the winner's file.
    """
    path = os.path.join(instance_path, INSTANCE_SECRET_FILE)
    if not os.path.exists(path):
        os.makedirs(instance_path, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    with open(path, encoding="ascii") as fh:
        value = fh.read().strip()
    if len(value) < 32:
        raise RuntimeError(f"{path}: the stored secret is too short; delete the file to regenerate it")
    return value


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
        secret_key.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret_key: str, plaintext: str) -> str:
    return _fernet(secret_key).encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(secret_key: str, ciphertext: str) -> str:
    """Decrypt or raise :class:`SecretUnreadable` (e.g. after ``SECRET_KEY`` changed)."""
    try:
        return _fernet(secret_key).decrypt(ciphertext.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError) as exc:
        raise SecretUnreadable("ciphertext does not match the current SECRET_KEY") from exc
