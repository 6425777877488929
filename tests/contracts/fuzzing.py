"""The fuzzed deployment and how a case is sent to it, shared by the contract fuzz modules.

One gunicorn per module (the fixtures live in conftest.py), seeded with real ids: a job from an
ingest, media from a register, a template, a provider-media link a mocked Turbotext job published,
an integration key, its job and batch. Cases are generated when a test runs (a lazy schema), not
when pytest collects: with xdist every worker collects every module.
"""

from __future__ import annotations

import io
import itertools
import os
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

from tests.contracts.contract import SPEC, Admin
from tests.support.api_keys import api_post
from tests.support.app import INGEST_PASSWORD, dispose_app, make_app, make_env
from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes
from tests.support.live_server import LiveServer
from tests.support.mock_turbotext import MockTurbotext
from tests.support.setup import configure_slot
from tests.support.zips import make_zip, photos

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
    if response.status_code == 400 and _refused_archive(case, response):
        return None  # nor can it say "a ZIP of photos": a batch's archive is refused by its bytes
    return positive_data_acceptance(ctx, response, case)  # type: ignore[no-any-return]


def _raw(value: Any) -> Any:
    """A part's bytes as sent: schemathesis' ``Binary`` wrapper, or a generated text part encoded as UTF-8."""
    if hasattr(value, "data"):
        return value.data
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value


def _file_parts(case: Any) -> list[bytes]:
    """Every file part's bytes, each of a repeated part (``photos``) included."""
    body = case.body if isinstance(case.body, dict) else {}
    values = [body[name] for name in _FILE_FIELDS if name in body]
    return [_raw(item) for value in values for item in (value if isinstance(value, list) else [value])]


def _refused_archive(case: Any, response: Any) -> bool:
    body = case.body if isinstance(case.body, dict) else {}
    archive = _raw(body.get("archive"))
    refused = _failure_reason(response) in _ARCHIVE_REFUSALS
    return isinstance(archive, bytes) and archive != _ARCHIVE and refused


def _failure_reason(response: Any) -> str:
    """The JSON error's ``failure_reason`` (schemathesis' response keeps headers lower-cased, in lists)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("failure_reason", "")) if isinstance(body, dict) else ""


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
PHOTO = jpeg_bytes(64, 48)
_ARCHIVE = make_zip(photos(2))
#: What a batch answers for an archive that is not a ZIP of photos (docs/integration-api.md).
_ARCHIVE_REFUSALS = {"bad_zip", "zip_empty", "zip_unsafe_name", "zip_nested"}
#: The contract's file parts (a generated text value in one is sent as its UTF-8 bytes).
_FILE_FIELDS = ("file", "test_image", "photo", "image", "fileToUpload", "archive", "photos")
ALL_SLOTS = {f"slot-{n:03d}" for n in range(1, 16)}


def hypothesis_settings(examples: int) -> Any:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=not SEED,
    )


def seeded(test: Callable[..., Any]) -> Callable[..., Any]:
    """``CONTRACT_FUZZ_SEED=<n>`` replays a run; ``random`` draws new cases each time."""
    return seed(int(SEED))(test) if SEED.isdigit() else test


def every_operation(selection: Any) -> Callable[[Callable[..., Any]], Any]:
    """One test that runs each operation of ``selection`` (the lazy schema, filtered) as a subtest.

    Seeded and bounded as above; its time limit is for one case, not for all of them.
    """

    def wrap(test: Callable[..., Any]) -> Any:
        each = selection.parametrize()(seeded(hypothesis_settings(EXAMPLES)(test)))
        return pytest.mark.timeout(900)(each)

    return wrap


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
    ingest = post_photo(dep.url, PHOTO)
    assert ingest.status_code == 200, ingest.text
    dep.ids["job_id"] = ingest.headers["X-Job-Id"]
    files = {"file": ("photo.jpg", PHOTO, "image/jpeg")}
    dep.ids["media_id"] = dep.admin_call("POST", "/api/media/register", files=files).json()["id"]
    form = {"slot_id": "slot-002", "media_kind": "style"}
    template = dep.admin_call("POST", "/api/template-media/register", files=files, data=form)
    dep.ids["template_id"] = template.json()["id"]
    assert post_photo(dep.url, PHOTO, slot_id=TT_SLOT).status_code == 200
    published = [f.url for f in turbotext.fetches if "/public/provider-media/" in f.url]
    dep.ids["provider_media_id"] = published[-1].rsplit("/", 1)[-1]
    # The integration API's key: a rate no fuzz run reaches.
    key = dep.admin_call("POST", "/api/keys", json={"name": "Контракт", "rate_per_minute": 6000})
    dep.ids["api_key"] = key.json()["api_key"]
    job = api_post(dep.url, dep.ids["api_key"], "jobs", "slot-002", {"photo": ("a.jpg", PHOTO, "image/jpeg")})
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
    if "job_id" in path and case.path.startswith("/api/v1/"):
        path["job_id"] = dep.ids["task_id"]  # the integration API calls its tasks jobs
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
            body.update(password=INGEST_PASSWORD, fileToUpload=PHOTO)
        for name in ("file", "test_image", "photo"):
            if name in body:
                body[name] = PHOTO
        if "archive" in body:
            body["archive"] = _ARCHIVE
        if isinstance(body.get("photos"), list):
            body["photos"] = [PHOTO] * len(body["photos"])
        if "media_id" in body and ("test-run" in case.path or "qr-preview" in case.path):
            body["media_id"] = dep.ids["media_id"]
        if "slot_id" in body:
            body["slot_id"] = "slot-002"


def few_password_changes(case: Any, dep: Deployment) -> None:
    """Hashing a new ingest password takes most of a second: a few fuzzed changes cover it."""
    if isinstance(case.body, dict) and "ingest_password" in case.body and next(dep.password_changes) >= 3:
        del case.body["ingest_password"]


_INGESTS = ("ingest", "ingestShort")


def authenticate(case: Any, dep: Deployment, auth: str) -> None:
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
def node_id_for_lazy_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis' lazy runner reads ``item._nodeid``, an attribute pytest 9.2 no longer sets.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


def honours(case: Any, deployment: Any, auth: str) -> None:
    if next(deployment.turn) % 2 == 0:
        _real_ids(case, deployment)
    few_password_changes(case, deployment)
    authenticate(case, deployment, auth)
    try:
        case.call_and_validate(base_url=deployment.url, checks=CHECKS, timeout=60)
    finally:
        if case.method.upper() == "PUT":
            deployment.restore(case)
