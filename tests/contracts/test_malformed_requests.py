"""Malformed requests to every operation that takes a body, over real HTTP to gunicorn.

Whatever is wrong with the body (no or a wrong multipart boundary, odd part names,
the wrong Content-Type, broken JSON, an oversize field), the answer is the JSON error
shape with a Russian message and a 4xx status the contract documents for that
operation: never a 500, never an HTML page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests

from tests.contracts.contract import Admin, documented_statuses, error_problems, logged_in, spec
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.db

#: (method, path) of every operation that reads a request body.
BODY_OPERATIONS = [
    ("POST", "/api/login"),
    ("PUT", "/api/slots/slot-001"),
    ("POST", "/api/slots/slot-001/test-run"),
    ("POST", "/api/slots/slot-001/qr-preview"),
    ("POST", "/api/template-media/register"),
    ("POST", "/api/media/register"),
    ("PUT", "/api/settings"),
    ("POST", "/api/ingest/slot-001"),
    ("POST", "/ingest/slot-001"),
]

_CRLF = b"\r\n"


def _multipart(*parts: bytes, boundary: bytes = b"b0undary") -> bytes:
    body = b"".join(b"--" + boundary + _CRLF + part + _CRLF for part in parts)
    return body + b"--" + boundary + b"--" + _CRLF


def _part(disposition: bytes, value: bytes = b"v") -> bytes:
    return b"Content-Disposition: " + disposition + _CRLF + _CRLF + value


#: name -> (Content-Type, body): each one wrong in its own way.
MALFORMED: dict[str, tuple[str, bytes]] = {
    "multipart without boundary": ("multipart/form-data", b"x"),
    "multipart, empty boundary": (
        "multipart/form-data; boundary=",
        _multipart(_part(b'form-data; name="a"')),
    ),
    "multipart, other boundary": (
        "multipart/form-data; boundary=zzz",
        _multipart(_part(b'form-data; name="a"')),
    ),
    "multipart, truncated": (
        "multipart/form-data; boundary=b0undary",
        b'--b0undary\r\nContent-Disposition: form-data; name="a"\r\n\r\nunfinished',
    ),
    "multipart, garbage": ("multipart/form-data; boundary=b0undary", b"\x00\xff" * 64),
    "part named backslash-quote": (
        "multipart/form-data; boundary=b0undary",
        _multipart(_part(b'form-data; name="\\"'), _part(b'form-data; name="\\"; filename="a.jpg"')),
    ),
    "part without a name": ("multipart/form-data; boundary=b0undary", _multipart(_part(b"form-data"))),
    "part with an empty name": (
        "multipart/form-data; boundary=b0undary",
        _multipart(_part(b'form-data; name=""')),
    ),
    "part with a non-UTF-8 name": (
        "multipart/form-data; boundary=b0undary",
        _multipart(_part(b'form-data; name="\xff\xfe"', b"\xff")),
    ),
    "part without headers": ("multipart/form-data; boundary=b0undary", _multipart(b"\r\nno headers")),
    "oversize text field": (
        "multipart/form-data; boundary=b0undary",
        _multipart(_part(b'form-data; name="password"', b"p" * (600 * 1024))),
    ),
    "too many parts": (
        "multipart/form-data; boundary=b0undary",
        _multipart(*[_part(b'form-data; name="f%d"' % n) for n in range(1100)]),
    ),
    "text/plain": ("text/plain", b"username=admin&password=x"),
    "application/xml": ("application/xml", b"<a/>"),
    "no Content-Type": ("", b"{}"),
    "bad JSON": ("application/json", b'{"username": '),
    "JSON, not an object": ("application/json", b"[1, 2, 3]"),
    "JSON, bad charset": ("application/json; charset=utf-16", b'{"a": 1}'),
    "JSON, invalid UTF-8": ("application/json", b'{"username": "\xff\xfe"}'),
    "urlencoded, invalid UTF-8": ("application/x-www-form-urlencoded", b"username=%ff%fe&password=%ff"),
    "oversize urlencoded field": ("application/x-www-form-urlencoded", b"username=" + b"a" * (600 * 1024)),
}


@pytest.fixture(scope="module")
def admin(contract_server: LiveServer) -> Iterator[Admin]:
    with logged_in(contract_server.url) as session:
        yield session


@pytest.mark.parametrize("method,path", BODY_OPERATIONS)
@pytest.mark.parametrize("variant", list(MALFORMED))
@pytest.mark.parametrize("auth", ["bearer", "cookie"])
def test_a_malformed_body_gets_a_documented_json_4xx(
    contract_server: LiveServer, admin: Admin, method: str, path: str, variant: str, auth: str
):
    if auth == "cookie" and (not path.startswith("/api/") or path.startswith("/api/ingest")):
        pytest.skip("the booth sends no admin session")
    content_type, body = MALFORMED[variant]
    headers = {"Content-Type": content_type} if content_type else {}
    resp = admin.request(method, contract_server.url + path, auth, data=body, headers=headers)
    assert resp.status_code in documented_statuses(method, path), (resp.status_code, resp.text[:300])
    assert 400 <= resp.status_code < 500, resp.text[:300]
    assert error_problems(resp) == []


def test_login_multipart_without_boundary_is_a_400(contract_server: LiveServer):
    """The case the outside fuzzing found: a 500 ``internal`` before the fix."""
    resp = requests.post(
        contract_server.url + "/api/login",
        data=b'{"username": "", "password": ""}',
        headers={"Content-Type": "multipart/form-data"},
        timeout=10,
    )
    assert resp.status_code == 400
    assert resp.json()["failure_reason"] == "bad_request"
    assert re.search("[а-яА-Я]", resp.json()["message"])


def test_register_with_a_part_named_backslash_quote_is_json(contract_server: LiveServer, admin: Admin):
    """The case the outside fuzzing found: gunicorn's own HTML 500 page before the fix."""
    from tests.support.images import jpeg_bytes

    body = (
        b'--b0undary\r\nContent-Disposition: form-data; name="\\"\r\n\r\nv\r\n'
        b"--b0undary\r\n"
        b'Content-Disposition: form-data; name="\\"; filename="a.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + jpeg_bytes(8, 8) + b"\r\n--b0undary--\r\n"
    )
    resp = admin.request(
        "POST",
        contract_server.url + "/api/media/register",
        "bearer",
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=b0undary"},
    )
    assert resp.status_code == 400, resp.text[:300]
    assert error_problems(resp) == []


@pytest.mark.parametrize("name", ["a\\b", "photo\\"])
def test_a_backslash_in_a_part_name_is_taken_as_the_client_sent_it(
    contract_server: LiveServer, admin: Admin, name: str
):
    """``requests`` and HTML forms send a backslash in a name as is; Werkzeug read it as an escape
    and a name ending in one lost its part (400 for a body the contract allows)."""
    from tests.support.images import jpeg_bytes

    resp = admin.request(
        "POST",
        contract_server.url + "/api/media/register",
        "bearer",
        files={name: (None, "v"), "file": ("a.jpg", jpeg_bytes(8, 8), "image/jpeg")},
    )
    assert resp.status_code == 201, resp.text[:300]


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("GET", "/api/slots/%00", None),
        ("GET", "/api/jobs/%00", None),
        ("GET", "/api/media/%00", None),
        ("GET", "/api/slots/slot-001/results/%00/preview", None),
        ("GET", "/public/slots/%00?token=x", None),
        ("POST", "/api/slots/slot-001/test-run", {"media_id": "a\x00b"}),
        ("PUT", "/api/slots/slot-001", {"template_media": [{"media_object_id": "a\x00b"}]}),
        ("POST", "/api/ingest/%00", None),
    ],
)
def test_an_id_with_a_nul_is_not_found(contract_server: LiveServer, admin: Admin, method, path, body):
    """PostgreSQL refuses a NUL in a string: such an id must never reach a query (a 500 before)."""
    resp = admin.request(method, contract_server.url + path, "bearer", json=body)
    # 409: a slot body naming a template the slot does not have (a state, not a malformed body).
    assert resp.status_code in (400, 404, 409), resp.text[:300]


def _concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "slot-001" if m.group(0) == "{slot_id}" else "a" * 32, template)


@pytest.mark.parametrize("method", ["TRACE", "PATCH", "QUERY"])
def test_an_undeclared_method_is_a_json_405_with_allow(contract_server: LiveServer, method: str):
    """Every path of the contract: 405 in the JSON shape, and ``Allow`` listing its methods (RFC 9110)."""
    problems = []
    for template, operations in spec()["paths"].items():
        declared = {m.upper() for m in operations if m != "parameters"}
        if method in declared:
            continue
        resp = requests.request(method, contract_server.url + _concrete(template), timeout=10)
        allowed = {m.strip() for m in resp.headers.get("Allow", "").split(",") if m.strip()}
        if resp.status_code != 405 or not declared <= allowed or error_problems(resp):
            problems.append(f"{template}: {resp.status_code} Allow={allowed} {resp.text[:100]!r}")
    assert problems == []


def test_options_lists_only_the_documented_methods(contract_server: LiveServer):
    """What OPTIONS advertises is what the contract documents (schemathesis' ST205).

    ``/api/media/register`` must not also match ``GET /api/media/{media_id}``.
    """
    problems = []
    for template, operations in spec()["paths"].items():
        declared = {m.upper() for m in operations if m != "parameters"}
        resp = requests.options(contract_server.url + _concrete(template), timeout=10)
        allowed = {m.strip() for m in resp.headers.get("Allow", "").split(",") if m.strip()}
        if allowed and allowed - {"HEAD", "OPTIONS"} != declared:  # an API-key 401 advertises nothing
            problems.append(f"{template}: Allow={sorted(allowed)}, documented {sorted(declared)}")
    assert problems == []
