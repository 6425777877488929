"""spec/contracts/openapi.yaml: valid, served, covering every route, and true of the live server.

Every operation is fuzzed against gunicorn: the admin API once with a bearer token and
once with the cookie session and its CSRF header, and half the generated requests carry
real ids (a job from an ingest, media from a register, a slot's current gallery token,
a provider-media link a Turbotext job published) so the operations' own logic runs, not
only their 404. A stateful run then follows the document's links. The run fails on any
5xx and on any answer whose status, content type, headers or body the document does not
allow. Bounded and derandomized by default; see docs/contract-fuzzing.md for a deeper run.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

from photochanger.settings.edit import update_schema as settings_update_schema
from photochanger.slots.edit import update_schema as slot_update_schema
from tests.contracts.contract import SPEC, spec
from tests.contracts.fuzzing import every_operation, honours, lazy_schema, schema
from tests.support.live_server import ROOT

pytestmark = pytest.mark.db

VERSION = os.path.join(ROOT, "spec", "contracts", "VERSION.json")


# -- the document ------------------------------------------------------------------


def test_version_file_is_semver_and_matches_the_document():
    with open(VERSION, encoding="utf-8") as fh:
        version = json.load(fh)["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert spec()["info"]["version"] == version


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
    documented = {(path, method.upper()) for path, ops in spec()["paths"].items() for method in ops}
    missing = []
    for rule in app.url_map.iter_rules():
        path = _openapi_path(rule.rule)
        if rule.endpoint == "static" or path.startswith("/admin"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if (path, method) not in documented:
                missing.append(f"{method} {path}")
    assert missing == []


def _as_openapi_30(schema: Any) -> Any:
    """The server's JSON Schema (2020-12) spelled as OpenAPI 3.0 writes it (``nullable``)."""
    if isinstance(schema, dict):
        out = {k: _as_openapi_30(v) for k, v in schema.items()}
        kinds = out.get("type")
        if isinstance(kinds, list) and "null" in kinds:
            (out["type"],) = [k for k in kinds if k != "null"]
            out["nullable"] = True
        return out
    if isinstance(schema, list):
        return [_as_openapi_30(v) for v in schema]
    return schema


def _strip_docs(schema: Any, components: dict[str, Any]) -> Any:
    """``schema`` with references resolved and descriptions dropped, to compare with the server's."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _strip_docs(components[schema["$ref"].rsplit("/", 1)[-1]], components)
        kept = {k: v for k, v in schema.items() if k not in ("description", "example")}
        return {k: _strip_docs(v, components) for k, v in kept.items()}
    if isinstance(schema, list):
        return [_strip_docs(v, components) for v in schema]
    return schema


@pytest.mark.parametrize(
    "name,server_schema",
    [("SlotUpdate", slot_update_schema), ("SettingsUpdate", settings_update_schema)],
)
def test_admin_update_bodies_are_the_schemas_the_server_validates(app, name, server_schema):
    """A client generated from the document sends only what the server's own check accepts."""
    from photochanger.runtime import services

    with app.app_context():
        drivers = services().drivers
        expected = _as_openapi_30(server_schema(drivers))
    components = spec()["components"]["schemas"]
    published = _strip_docs(components[name], components)
    if name == "SlotUpdate":  # the server checks it against the provider's; the document lists them all
        operations = {op for driver in drivers.values() for op in driver.operations}
        assert set(published["properties"].pop("operation")["enum"]) == operations
        expected["properties"].pop("operation")
    assert published == expected


def test_every_uploaded_file_part_is_published_non_empty():
    """Every upload route refuses an empty file (400), so no generated client should send one."""
    components = spec()["components"]
    loose = []
    for path, operations in spec()["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if body is None:
                continue
            body = _strip_docs(body, {**components["schemas"], **components["requestBodies"]})
            multipart = body.get("content", {}).get("multipart/form-data", {}).get("schema", {})
            for name, prop in multipart.get("properties", {}).items():
                prop = prop.get("items", {}) if prop.get("type") == "array" else prop  # a repeated part
                if prop.get("format") == "binary" and prop.get("minLength", 0) < 1:
                    loose.append(f"{method.upper()} {path} {name}")
    assert loose == []


def test_the_qr_preview_options_are_the_schema_the_server_validates():
    """``qr`` is published as the JSON object the server checks, not as a free string."""
    from photochanger.media.qr import SETTINGS_SCHEMA

    components = spec()["components"]["schemas"]
    expected = _strip_docs(SETTINGS_SCHEMA, components)
    for prop in expected["properties"].values():
        for key in ("title", "default"):
            prop.pop(key, None)
    expected.pop("title")
    assert _strip_docs(components["QrOptions"], components) == expected
    body = spec()["paths"]["/api/slots/{slot_id}/qr-preview"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["encoding"]["qr"] == {"contentType": "application/json"}


def test_logout_is_documented_as_revoking_the_token():
    """It revokes the bearer token too (issue 20), so a fixed-token fuzz run must leave it out."""
    logout = spec()["paths"]["/api/logout"]["post"]
    assert logout["summary"].startswith("Revoke the presented token")
    assert "--exclude-path /api/logout" in logout["description"]


@every_operation(lazy_schema.exclude(tag="admin"))
def test_live_server_honours_the_contract(case, deployment):
    """Every operation outside the admin API: the booth's, the public pages', ops', the partners'.

    The admin API is fuzzed in ``test_openapi_admin.py`` (bearer) and ``test_openapi_session.py``
    (cookie): three modules, so three xdist workers share the fuzz.
    """
    honours(case, deployment, "bearer")


def test_every_operation_is_fuzzed():
    """Guard: a filter or a parse problem must not silently drop operations."""
    fuzzed = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    documented = {(m.upper(), p) for p, ops in spec()["paths"].items() for m in ops if m != "parameters"}
    assert fuzzed == documented
