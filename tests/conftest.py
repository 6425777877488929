"""Shared fixtures: a migrated database (SQLite or a private PostgreSQL), the app,
its test client and CLI runner, and a real gunicorn server.

``pytest --db=postgresql`` runs everything against a real PostgreSQL server.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from tests.support.app import INGEST_PASSWORD as INGEST_PASSWORD
from tests.support.app import JWT_TEST_SECRET as JWT_TEST_SECRET
from tests.support.app import dispose_app, make_app, make_env
from tests.support.app import migrate as _migrate
from tests.support.live_server import LiveServer
from tests.support.mock_gemini import MockGemini
from tests.support.postgres import PostgresCluster, TemplateClones
from tests.support.redis import redis_server  # noqa: F401 - a fixture for the whole suite
from tests.support.s3 import s3_server  # noqa: F401 - a fixture for the whole suite
from tests.support.stack import GEMINI_TEST_KEY, Stack


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql"),
        default=os.environ.get("PHOTOCHANGER_TEST_DB", "sqlite"),
        help="database engine for the suite",
    )


@pytest.fixture(scope="session")
def database_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], str]]:
    """Returns a function that makes a fresh, migrated database and gives its URL."""
    engine = request.config.getoption("--db")
    scratch = str(tmp_path_factory.mktemp("dbtemplate"))
    if engine == "postgresql":
        cluster = PostgresCluster(in_ram=True)
        cluster.start()
        template = cluster.create_database()
        _migrate(cluster.url(template), scratch)
        try:
            yield TemplateClones(cluster, template)
        finally:
            cluster.stop()
    else:
        template_file = os.path.join(scratch, "template.db")
        _migrate(f"sqlite:///{template_file}", scratch)
        counter = iter(range(1_000_000))

        def make() -> str:
            target = str(tmp_path_factory.getbasetemp() / f"db-{next(counter)}.sqlite")
            shutil.copyfile(template_file, target)
            return f"sqlite:///{target}"

        yield make


def _drop(database_factory: Callable[[], str], url: str) -> None:
    if isinstance(database_factory, TemplateClones):
        database_factory.drop(url)  # megabytes each: the cluster keeps only the databases in use


@pytest.fixture
def app_env(database_factory: Callable[[], str], tmp_path: Any) -> Iterator[dict[str, str]]:
    """Environment shared by the in-process app and a live gunicorn server."""
    url = database_factory()
    yield make_env(tmp_path / "instance", url)
    _drop(database_factory, url)


@pytest.fixture
def app(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The app on a fresh database with 15 seeded slots and ingest password 123456."""
    app = make_app(app_env, monkeypatch)
    yield app
    dispose_app(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def live_server(app: Flask, app_env: dict[str, str]) -> Iterator[Callable[..., LiveServer]]:
    """Factory: ``live_server(workers=2, GEMINI_API_BASE=...)`` starts gunicorn on the app's database."""
    started: list[LiveServer] = []

    def start(workers: int = 1, **env: str) -> LiveServer:
        server = LiveServer({**app_env, **env}, workers=workers)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def stack(database_factory: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One database, one gunicorn and one Gemini mock for a whole test module.

    Starting gunicorn costs seconds; modules of many HTTP tests share one and
    call :meth:`Stack.reset` (the ``shared`` fixture) between tests.
    """
    url = database_factory()
    with pytest.MonkeyPatch.context() as mp:
        env = make_env(tmp_path_factory.mktemp("stack") / "instance", url)
        app = make_app(env, mp)
        with MockGemini(api_key=GEMINI_TEST_KEY) as gemini:
            server_env = {**env, "GEMINI_API_BASE": gemini.url, "GEMINI_API_KEY": GEMINI_TEST_KEY}
            server = LiveServer(server_env, workers=2)
            try:
                yield Stack(app=app, env=server_env, server=server, gemini=gemini)
            finally:
                server.stop()
                dispose_app(app)
    _drop(database_factory, url)


@pytest.fixture
def shared(stack: Stack) -> Iterator[Stack]:
    """The module's stack, reset to a freshly seeded state for this test."""
    stack.reset()
    yield stack
    stack.stop_extra_servers()
