"""spec/contracts/openapi.yaml: valid, served, covering every route, and true of the live server.

The schemathesis run is bounded (a few dozen examples per operation, no hypothesis
deadline) so the suite stays fast; it fails on any 5xx and on any answer whose status,
content type, headers or body the document does not allow.
"""

from __future__ import annotations

import json
import os
import re

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import INGEST_PASSWORD, dispose_app, make_app, make_env
from tests.support.images import jpeg_bytes
from tests.support.live_server import ROOT, LiveServer

SPEC = os.path.join(ROOT, "spec", "contracts", "openapi.yaml")
VERSION = os.path.join(ROOT, "spec", "contracts", "VERSION.json")
#: Operations fuzzed against the live server (admin ones need a session and change state).
FUZZED_TAGS = ("ingest", "public", "ops")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _spec():
    with open(SPEC, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_version_file_is_semver_and_matches_the_document():
    with open(VERSION, encoding="utf-8") as fh:
        version = json.load(fh)["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert _spec()["info"]["version"] == version


def test_document_is_served(client):
    resp = client.get("/api/openapi.yaml")
    assert resp.status_code == 200
    assert resp.mimetype == "application/yaml"
    with open(SPEC, "rb") as fh:
        assert resp.data == fh.read()


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def test_every_json_route_is_documented(app):
    """Each route of the app (HTML admin pages and static files aside) is in the document."""
    documented = {(path, method.upper()) for path, ops in _spec()["paths"].items() for method in ops}
    missing = []
    for rule in app.url_map.iter_rules():
        path = _openapi_path(rule.rule)
        if rule.endpoint == "static" or path.startswith("/admin"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if (path, method) not in documented:
                missing.append(f"{method} {path}")
    assert missing == []


@pytest.fixture(scope="module")
def contract_server(database_factory, tmp_path_factory):
    """One gunicorn for all fuzzed operations (a fresh database, seeded like the app fixture)."""
    env = make_env(tmp_path_factory.mktemp("contract") / "instance", database_factory())
    with pytest.MonkeyPatch.context() as mp:
        dispose_app(make_app(env, mp))
    server = LiveServer(env, workers=1)
    yield server
    server.stop()


schema = schemathesis.openapi.from_path(SPEC).include(tag=list(FUZZED_TAGS))
_PHOTO = jpeg_bytes(320, 240)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_live_server_honours_the_contract(case, contract_server):
    if "ingest" in case.path and isinstance(case.body, dict):
        # Half the generated requests carry the right password and a real photo, so the
        # pipeline itself (not only the password check) is exercised.
        if len(case.body) % 2 == 0:
            case.body["password"] = INGEST_PASSWORD
            case.body["fileToUpload"] = _PHOTO
    case.call_and_validate(base_url=contract_server.url, checks=CHECKS, timeout=60)


def test_fuzzed_selection_covers_the_booth_and_guest_operations():
    """Guard: a filter typo must not silently fuzz nothing."""
    operations = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert ("POST", "/ingest/{slot_id}") in operations
    assert ("POST", "/api/ingest/{slot_id}") in operations
    assert ("GET", "/public/results/{job_id}") in operations
    assert ("GET", "/healthz") in operations
