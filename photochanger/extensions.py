"""Extension singletons, bound to an app in :func:`photochanger.create_app`."""

from __future__ import annotations

from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
jwt = JWTManager()
#: No default limits: only the routes that ask are limited. Storage comes from
#: ``RATELIMIT_STORAGE_URI`` (files in ``LOCK_DIR`` by default; Redis to share between hosts).
limiter = Limiter(key_func=get_remote_address, default_limits=[])
