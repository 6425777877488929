"""PhotoChanger: photobooth photos through AI providers within the booth's deadline."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask
from sqlalchemy import event


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: config, extensions, blueprints, CLI.

    ``config`` overrides values read from the environment (tests use it).
    """
    from photochanger import models  # noqa: F401 - models registers the tables on db.metadata
    from photochanger.auth.session import init_admin_auth
    from photochanger.config import PROJECT_ROOT, Config, normalise_database_url
    from photochanger.errors import register_error_handlers
    from photochanger.extensions import db, migrate
    from photochanger.infra import autocommit, connection_check, file_modes
    from photochanger.infra.logging_setup import configure_logging
    from photochanger.infra.request import StrictRequest
    from photochanger.runtime import init_services

    app = Flask(
        __name__,
        instance_path=os.environ.get("INSTANCE_PATH") or os.path.join(PROJECT_ROOT, "instance"),
        template_folder=os.path.join(PROJECT_ROOT, "templates"),
        static_folder=os.path.join(PROJECT_ROOT, "static"),
    )
    app.request_class = StrictRequest
    app.config.update(Config(app.instance_path).as_dict())
    if config:
        app.config.update(config)
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(str(app.config["SQLALCHEMY_DATABASE_URI"]))
    _engine_options(app)
    file_modes.restrict_umask()  # before anything below creates a file or folder
    os.makedirs(app.instance_path, exist_ok=True)

    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Russian messages stay readable
    configure_logging(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(PROJECT_ROOT, "migrations"), render_as_batch=True)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
            file_modes.tighten_sqlite_files(db.engine.url.database)
        connection_check.install(db.engine)  # first: no other listener gets a dropped connection
        autocommit.install(db.engine)
    init_services(app)
    init_admin_auth(app)
    register_error_handlers(app)
    _init_observability(app)
    _register_blueprints(app)
    _register_cli(app)
    from photochanger.infra.body_guard import BodyGuard

    # Inside the proxy fix and the arrival stamp: it sees the final environ and times only the body.
    app.wsgi_app = BodyGuard(app.wsgi_app, float(app.config["BODY_IDLE_TIMEOUT"]))  # type: ignore[method-assign]
    _trust_proxies(app)
    app.wsgi_app = _ArrivalStamp(app.wsgi_app)  # type: ignore[method-assign]
    return app


def _trust_proxies(app: Flask) -> None:
    """Behind ``TRUSTED_PROXY_COUNT`` proxies, the client's address is what they forward.

    Throttles and logs key on it: behind nginx every client would otherwise share nginx's address.
    """
    from werkzeug.middleware.proxy_fix import ProxyFix

    count = int(app.config.get("TRUSTED_PROXY_COUNT") or 0)
    if count > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]


def _engine_options(app: Flask) -> None:
    uri = str(app.config["SQLALCHEMY_DATABASE_URI"])
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if uri.startswith("sqlite"):
        from photochanger.infra.sqlite_busy import connect_args

        # SQLite serialises writers: wait for a lock, but cooperatively and briefly
        # (infra/sqlite_busy.py), then answer 503 database_unavailable.
        options.setdefault("connect_args", connect_args(float(app.config["DATABASE_BUSY_TIMEOUT"])))
    else:
        # Short statements per ingest; many greenlets share a modest pool.
        options.setdefault("pool_size", 10)
        options.setdefault("max_overflow", 40)
        options.setdefault("pool_timeout", 10)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _init_observability(app: Flask) -> None:
    """Request ids and access lines first, so metrics hooks run inside a known request."""
    from photochanger.infra.metrics import init_metrics, on_scrape
    from photochanger.infra.request_log import init_request_log
    from photochanger.infra.security_headers import init_security_headers
    from photochanger.runtime import services

    init_request_log(app)
    init_metrics(app)
    on_scrape(app, lambda: services().refresh_circuit_gauges())
    init_security_headers(app)


def _register_blueprints(app: Flask) -> None:
    from photochanger.infra.lookup import HexId

    app.url_map.converters["hexid"] = HexId
    from photochanger.admin.auth import bp as auth_bp
    from photochanger.admin.batches_api import bp as batches_api_bp
    from photochanger.admin.gallery_api import bp as gallery_api_bp
    from photochanger.admin.journal_api import bp as journal_api_bp
    from photochanger.admin.keys_api import bp as keys_api_bp
    from photochanger.admin.media_api import bp as media_api_bp
    from photochanger.admin.pages import bp as admin_pages_bp
    from photochanger.admin.pages import root_bp
    from photochanger.admin.settings_api import bp as settings_api_bp
    from photochanger.admin.slots_api import bp as slots_api_bp
    from photochanger.ingest.routes import bp as ingest_bp
    from photochanger.integration.routes import bp as integration_bp
    from photochanger.public.gallery import bp as gallery_bp
    from photochanger.public.routes import bp as public_bp
    from photochanger.stats.api import bp as stats_api_bp
    from photochanger.stats.contract import bp as contract_bp
    from photochanger.stats.health import bp as health_bp

    for bp in (
        ingest_bp,
        public_bp,
        health_bp,
        contract_bp,
        auth_bp,
        slots_api_bp,
        settings_api_bp,
        media_api_bp,
        journal_api_bp,
        gallery_api_bp,
        keys_api_bp,
        batches_api_bp,
        integration_bp,
        stats_api_bp,
        admin_pages_bp,
        root_bp,
        gallery_bp,
    ):
        app.register_blueprint(bp)


def _register_cli(app: Flask) -> None:
    from cli import commands

    for command in commands.ALL:
        app.cli.add_command(command)


class _ArrivalStamp:
    """Records when a request arrived (under gunicorn, its first byte): the deadline counts from here."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        from photochanger.infra.first_byte import ARRIVAL_KEY, first_byte_time

        self.wsgi_app = wsgi_app
        self.key, self.first_byte_time = ARRIVAL_KEY, first_byte_time

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ.setdefault(self.key, self.first_byte_time() or time.monotonic())
        return self.wsgi_app(environ, start_response)
