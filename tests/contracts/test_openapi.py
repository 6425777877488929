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

import io
import itertools
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, seed, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from photochanger.settings.edit import update_schema as settings_update_schema
from photochanger.slots.edit import update_schema as slot_update_schema
from tests.contracts.contract import SPEC, Admin, spec
from tests.support.api_keys import api_post
from tests.support.app import INGEST_PASSWORD, dispose_app, make_app, make_env
from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes
from tests.support.live_server import ROOT, LiveServer
from tests.support.mock_turbotext import MockTurbotext
from tests.support.setup import configure_slot
from tests.support.zips import make_zip, photos

pytestmark = pytest.mark.db

VERSION = os.path.join(ROOT, "spec", "contracts", "VERSION.json")
#: Schema-valid requests the server may still refuse, for reasons docs/contract-fuzzing.md gives:
#: slot settings follow the chosen operation's own schema (published by GET, not in the PUT body's).
LOOSER_THAN_THE_SERVER = {("PUT", "/api/slots/{slot_id}")}


def schema_valid_admin_requests_are_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' ``positive_data_acceptance`` for the admin API.

    The booth's and the integration API's bodies carry a password, a SHA-1 of the photo or a ZIP,
    none of which a schema describes.
    """
    if "admin" not in case.operation.tags or (case.method.upper(), case.path) in LOOSER_THAN_THE_SERVER:
        return None
    if response.status_code == 415 and not all(_decodes(part) for part in _file_parts(case)):
        return None  # bytes no decoder takes: the documented 415, which no JSON Schema can rule out
    return positive_data_acceptance(ctx, response, case)  # type: ignore[no-any-return]


def _file_parts(case: Any) -> list[bytes]:
    body = case.body if isinstance(case.body, dict) else {}
    return [
        getattr(value, "data", value)
        for value in body.values()
        if isinstance(getattr(value, "data", value), bytes)
    ]


def _decodes(data: bytes) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.format in ("JPEG", "PNG", "WEBP")
    except (UnidentifiedImageError, OSError, ValueError):
        return False


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    unsupported_method,
    schema_valid_admin_requests_are_accepted,
]
#: Examples per operation: small for ``make test``, larger for a deep run.
EXAMPLES = int(os.environ.get("CONTRACT_FUZZ_EXAMPLES", "6"))
#: Unset: derandomized (the same cases every run); a number or ``random`` for other cases.
SEED = os.environ.get("CONTRACT_FUZZ_SEED", "")
TT_KEY = "tt-contract"
#: The slot whose Turbotext job publishes a provider-media link.
TT_SLOT = "slot-015"
#: What a fuzzed PUT may leave changed, put back so later operations still get past it.
SLOT_DEFAULTS = {"provider": "local", "operation": "filter", "is_active": True, "size_limit_mb": None}
_PHOTO = jpeg_bytes(64, 48)
_ARCHIVE = make_zip(photos(2))
ALL_SLOTS = {f"slot-{n:03d}" for n in range(1, 16)}


def _hypothesis_settings(examples: int) -> Any:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=not SEED,
    )


def _seeded(test: Callable[..., Any]) -> Callable[..., Any]:
    """``CONTRACT_FUZZ_SEED=<n>`` replays a run; ``random`` draws new cases each time."""
    return seed(int(SEED))(test) if SEED.isdigit() else test


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


# -- the live deployment -----------------------------------------------------------


@dataclass
class Deployment:
    """The fuzzed server, an admin logged in both ways, and ids that really exist."""

    server: LiveServer
    admin: Admin
    ids: dict[str, str] = field(default_factory=dict)
    turn: Iterator[int] = field(default_factory=itertools.count)
    password_changes: Iterator[int] = field(default_factory=itertools.count)

    @property
    def url(self) -> str:
        return self.server.url

    def admin_call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.admin.request(method, self.url + path, "bearer", **kwargs)

    def gallery_token(self, slot_id: str) -> str:
        """The slot's current token: fuzzed rotations change it."""
        return str(self.admin_call("GET", f"/api/slots/{slot_id}").json().get("gallery_token", ""))

    def restore(self, case: Any) -> None:
        """Put back what a fuzzed PUT may have changed: the ingest password, the slot's provider."""
        body = case.body if isinstance(case.body, dict) else {}
        if "ingest_password" in body:  # only then: hashing a password takes most of a second
            self.admin_call("PUT", "/api/settings", json={"ingest_password": INGEST_PASSWORD})
        slot_id = (case.path_parameters or {}).get("slot_id")
        if case.path == "/api/slots/{slot_id}" and slot_id in ALL_SLOTS and slot_id != TT_SLOT:
            self.admin_call("PUT", f"/api/slots/{slot_id}", json={**SLOT_DEFAULTS, "settings": {}})


@pytest.fixture(scope="module")
def deployment(
    database_factory: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    env = make_env(tmp_path_factory.mktemp("contract-fuzz") / "instance", database_factory())
    with MockTurbotext(api_key=TT_KEY) as turbotext, pytest.MonkeyPatch.context() as mp:
        app = make_app(env, mp)
        configure_slot(
            app, TT_SLOT, provider="turbotext", operation="image_edit", settings_json={"prompt": "мульт"}
        )
        dispose_app(app)
        server_env = {
            **env,
            "TURBOTEXT_API_BASE": turbotext.url,
            "TURBOTEXT_API_KEY": TT_KEY,
            "TURBOTEXT_POLL_INTERVAL": "0.1",
        }
        server = LiveServer(server_env, workers=1)
        try:
            yield _with_real_ids(Deployment(server, Admin(server.url)), turbotext)
        finally:
            server.stop()


def _with_real_ids(dep: Deployment, turbotext: MockTurbotext) -> Deployment:
    ingest = post_photo(dep.url, _PHOTO)
    assert ingest.status_code == 200, ingest.text
    dep.ids["job_id"] = ingest.headers["X-Job-Id"]
    files = {"file": ("photo.jpg", _PHOTO, "image/jpeg")}
    dep.ids["media_id"] = dep.admin_call("POST", "/api/media/register", files=files).json()["id"]
    form = {"slot_id": "slot-002", "media_kind": "style"}
    template = dep.admin_call("POST", "/api/template-media/register", files=files, data=form)
    dep.ids["template_id"] = template.json()["id"]
    assert post_photo(dep.url, _PHOTO, slot_id=TT_SLOT).status_code == 200
    published = [f.url for f in turbotext.fetches if "/public/provider-media/" in f.url]
    dep.ids["provider_media_id"] = published[-1].rsplit("/", 1)[-1]
    # The integration API's key: a rate no fuzz run reaches.
    key = dep.admin_call("POST", "/api/keys", json={"name": "Контракт", "rate_per_minute": 6000})
    dep.ids["api_key"] = key.json()["api_key"]
    job = api_post(
        dep.url, dep.ids["api_key"], "jobs", "slot-002", {"photo": ("a.jpg", _PHOTO, "image/jpeg")}
    )
    dep.ids["task_id"] = job.json()["job_id"]
    archive = {"archive": ("photos.zip", _ARCHIVE, "application/zip")}
    dep.ids["batch_id"] = api_post(dep.url, dep.ids["api_key"], "batches", "slot-002", archive).json()[
        "batch_id"
    ]
    return dep


def _real_ids(case: Any, dep: Deployment) -> None:
    """Point the case at resources that exist: its slot and the ids made at start-up."""
    path = case.path_parameters or {}
    if "slot_id" in path:
        path["slot_id"] = "slot-001"
    if "job_id" in path:
        path["job_id"] = dep.ids["job_id"]
    if "task_id" in path:
        path["task_id"] = dep.ids["task_id"]
    if "batch_id" in path:
        path["batch_id"] = dep.ids["batch_id"]
    if "media_id" in path:
        kind = "template_id" if "template-media" in case.path else "media_id"
        path["media_id"] = dep.ids["provider_media_id" if "provider-media" in case.path else kind]
    if case.operation.definition.raw.get("operationId") == "slotGallery":
        case.query = {**(case.query or {}), "token": dep.gallery_token("slot-001")}
    body = case.body
    if isinstance(body, dict):
        if "ingest" in case.path:
            body.update(password=INGEST_PASSWORD, fileToUpload=_PHOTO)
        for name in ("file", "test_image", "photo"):
            if name in body:
                body[name] = _PHOTO
        if "archive" in body:
            body["archive"] = _ARCHIVE
        if "media_id" in body and ("test-run" in case.path or "qr-preview" in case.path):
            body["media_id"] = dep.ids["media_id"]
        if "slot_id" in body:
            body["slot_id"] = "slot-002"


def _few_password_changes(case: Any, dep: Deployment) -> None:
    """Hashing a new ingest password takes most of a second: a few fuzzed changes cover it."""
    if isinstance(case.body, dict) and "ingest_password" in case.body and next(dep.password_changes) >= 3:
        del case.body["ingest_password"]


_INGESTS = ("ingest", "ingestShort")


def _authenticate(case: Any, dep: Deployment, auth: str) -> None:
    dropped = ("authorization", "cookie", "x-api-key")
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in dropped}
    if "admin" in case.operation.tags:
        headers.update(dep.admin.headers(auth))
    if "integration" in case.operation.tags:
        headers["X-API-Key"] = dep.ids["api_key"]
    if case.operation.definition.raw.get("operationId") in _INGESTS and next(dep.turn) % 3 == 0:
        headers.update(dep.admin.headers("bearer"))  # an admin's token stands in for the booth password
    case.headers = headers
    case.cookies = {}


schema = schemathesis.openapi.from_path(SPEC)


@pytest.fixture(scope="module")
def contract_schema() -> Any:
    return schemathesis.openapi.from_path(SPEC)


# Cases are generated when the test runs, not at collection: every xdist worker collects every
# module, and generating the coverage cases of all operations took each of them seconds of CPU.
lazy_schema = schemathesis.pytest.from_fixture("contract_schema")


@pytest.fixture(autouse=True)
def _node_id_for_lazy_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis' lazy runner reads ``item._nodeid``, an attribute pytest 9.2 no longer sets.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


def _honours(case: Any, deployment: Any, auth: str) -> None:
    if next(deployment.turn) % 2 == 0:
        _real_ids(case, deployment)
    _few_password_changes(case, deployment)
    _authenticate(case, deployment, auth)
    try:
        case.call_and_validate(base_url=deployment.url, checks=CHECKS, timeout=60)
    finally:
        if case.method.upper() == "PUT":
            deployment.restore(case)


@lazy_schema.parametrize()
@_seeded
@_hypothesis_settings(EXAMPLES)
def test_live_server_honours_the_contract(case, deployment):
    """Every operation; the admin API with a bearer token."""
    _honours(case, deployment, "bearer")


@lazy_schema.include(tag="admin").parametrize()
@_seeded
@_hypothesis_settings(EXAMPLES)
def test_the_admin_api_honours_the_contract_with_the_cookie_session(case, deployment):
    """The admin API again with the cookie session and its CSRF header (only it has one)."""
    _honours(case, deployment, "cookie")


def test_links_reach_real_resources(deployment):
    """Stateful: ids flow along the document's links (register → get, test-run → job → result …)."""
    Workflow = schema.as_state_machine()

    class Linked(Workflow):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            _few_password_changes(case, deployment)
            _authenticate(case, deployment, "bearer")
            return {"base_url": deployment.url, "timeout": 60}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)
            if case.method.upper() == "PUT":
                deployment.restore(case)

    Linked.run(settings=settings(_hypothesis_settings(max(4, EXAMPLES // 2)), stateful_step_count=6))


def test_every_operation_is_fuzzed():
    """Guard: a filter or a parse problem must not silently drop operations."""
    fuzzed = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    documented = {(m.upper(), p) for p, ops in spec()["paths"].items() for m in ops if m != "parameters"}
    assert fuzzed == documented
