"""The published contract as the suite reads it, and an admin session of either kind."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests
import yaml

from tests.support.app import ADMIN_PASSWORD, ADMIN_USERNAME
from tests.support.live_server import ROOT

SPEC = os.path.join(ROOT, "spec", "contracts", "openapi.yaml")
_CYRILLIC = re.compile("[а-яА-ЯёЁ]")


@functools.cache
def spec() -> dict[str, Any]:
    with open(SPEC, encoding="utf-8") as fh:
        return yaml.safe_load(fh)  # type: ignore[no-any-return]


def _template(path: str) -> str | None:
    """The document's path template that ``path`` (a concrete URL path) falls under."""
    for template in spec()["paths"]:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return template
    return None


def documented_statuses(method: str, path: str) -> set[int]:
    template = _template(path)
    assert template is not None, f"{path} is not in the contract"
    return {int(code) for code in spec()["paths"][template][method.lower()]["responses"]}


def error_problems(resp: requests.Response) -> list[str]:
    """What is wrong with ``resp`` as a JSON error answer (an empty list: nothing)."""
    if resp.headers.get("Content-Type", "").split(";")[0] != "application/json":
        return [f"Content-Type {resp.headers.get('Content-Type')!r}: {resp.text[:200]!r}"]
    body = resp.json()
    problems = []
    if body.get("status") != "error" or not isinstance(body.get("failure_reason"), str):
        problems.append(f"not the error shape: {body}")
    if not _CYRILLIC.search(str(body.get("message", ""))):
        problems.append(f"message is not Russian: {body.get('message')!r}")
    return problems


class Admin:
    """One admin logged in twice: a bearer token, and a cookie session with its CSRF token."""

    def __init__(self, base_url: str) -> None:
        resp = requests.post(
            base_url + "/api/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}, timeout=10
        )
        resp.raise_for_status()
        self.token = resp.json()["access_token"]
        self.cookies = requests.Session()
        resp = self.cookies.post(
            base_url + "/api/login",
            json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD, "cookie": True},
            timeout=10,
        )
        resp.raise_for_status()
        self.csrf = self.cookies.cookies["csrf_access_token"]

    def headers(self, auth: str) -> dict[str, str]:
        """Headers that authenticate a request the ``auth`` way (``bearer`` or ``cookie``)."""
        if auth == "bearer":
            return {"Authorization": f"Bearer {self.token}"}
        cookies = "; ".join(f"{k}={v}" for k, v in self.cookies.cookies.items())
        return {"Cookie": cookies, "X-CSRF-TOKEN": self.csrf}

    def request(
        self, method: str, url: str, auth: str, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        return requests.request(
            method, url, headers={**self.headers(auth), **(headers or {})}, timeout=60, **kwargs
        )


@contextmanager
def logged_in(base_url: str) -> Iterator[Admin]:
    yield Admin(base_url)
