"""One gunicorn per contract test module, seeded like the ``app`` fixture; the fuzzed deployment."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.contracts.fuzzing import contract_schema, deployment, node_id_for_lazy_schemathesis  # noqa: F401
from tests.support.app import dispose_app, make_app, make_env
from tests.support.live_server import LiveServer


@pytest.fixture(scope="module")
def contract_server(
    database_factory: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    env = make_env(tmp_path_factory.mktemp("contract") / "instance", database_factory())
    with pytest.MonkeyPatch.context() as mp:
        dispose_app(make_app(env, mp))
    server = LiveServer(env, workers=1)
    yield server
    server.stop()
