"""A migrated database and a seeded app, for the suite's fixtures and for the benchmark's tools.

Public so that code outside ``tests/`` (``bench/db_cost.py``) builds its app the way
the suite does without importing the suite's private fixtures.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
from flask import Flask
from flask_migrate import upgrade

from photochanger import create_app
from photochanger.auth.passwords import hash_password
from photochanger.extensions import db
from photochanger.runtime import services
from photochanger.settings.store import save_setting
from photochanger.slots.catalog import seed_slots

INGEST_PASSWORD = "123456"
JWT_TEST_SECRET = "test-jwt-secret-0123456789abcdef0123456789abcdef"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin-secret-pass"


@functools.cache
def _admin_hash() -> str:
    return hash_password(ADMIN_PASSWORD, rounds=4)


def migrate(url: str, instance: str) -> None:
    """Bring the database at ``url`` to the newest schema."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "MEDIA_ROOT": instance, "LOCK_DIR": instance})
    with app.app_context():
        upgrade()
        db.engine.dispose()


def make_env(instance: Any, database_url: str) -> dict[str, str]:
    """Environment of one deployment: database, media, locks, secrets under ``instance``."""
    instance.mkdir(exist_ok=True)
    # A deployment always has its admin credentials file; the server refuses to start without it.
    credentials = {"admins": [{"username": ADMIN_USERNAME, "password_hash": _admin_hash()}]}
    (instance / "credentials.json").write_text(json.dumps(credentials))
    return {
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(instance / "media"),
        "LOCK_DIR": str(instance / "locks"),
        "INSTANCE_PATH": str(instance),
        "JWT_SECRET_KEY": JWT_TEST_SECRET,
        "ADMIN_CREDENTIALS_FILE": str(instance / "credentials.json"),
        "LOG_LEVEL": "INFO",
        # Tests send bursts from one address; tests/ops/test_hostile_uploads.py checks the caps.
        "UPLOADS_PER_CLIENT": "1000",
        "UPLOADS_IN_FLIGHT": "1000",
    }


def make_app(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Flask:
    """The app of ``env`` with 15 seeded slots and ingest password 123456."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app = create_app({"TESTING": True})
    with app.app_context():
        seed_slots(services().drivers)
        save_setting("ingest_password_hash", hash_password(INGEST_PASSWORD, rounds=4), "tests")
        db.session.commit()
    return app


def dispose_app(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
