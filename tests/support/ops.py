"""Helpers for the operations tests (metrics, nginx, contract)."""

from __future__ import annotations

import json
import os

from photochanger.auth.passwords import hash_password

OPS_ADMIN = "ops-admin"
OPS_ADMIN_PASSWORD = "ops-admin-password"


def ensure_admin_credentials(path: str) -> None:
    """Write an admin credentials file when none exists: gunicorn refuses to start without one."""
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(
            {
                "admins": [
                    {"username": OPS_ADMIN, "password_hash": hash_password(OPS_ADMIN_PASSWORD, rounds=4)}
                ]
            },
            fh,
        )
