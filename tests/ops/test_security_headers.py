"""Browser security headers on the app's pages and answers."""

from __future__ import annotations

import re

import requests

from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes

EXPECTED = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def test_pages_and_answers_carry_security_headers(app, live_server):
    server = live_server()
    job_id = post_photo(server.url, jpeg_bytes()).headers["X-Job-Id"]
    for path in ("/admin/login", "/healthz", f"/public/results/{job_id}", f"/public/results/{job_id}/view"):
        resp = requests.get(f"{server.url}{path}", timeout=5)
        assert resp.status_code == 200, path
        for name, value in EXPECTED.items():
            assert resp.headers.get(name) == value, (path, name)
        csp = resp.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert re.search(r"script-src 'self'(;|$)", csp), csp  # no inline or foreign scripts


def test_no_page_has_an_inline_script(app, live_server):
    server = live_server()
    job_id = post_photo(server.url, jpeg_bytes()).headers["X-Job-Id"]
    for path in ("/admin/login", f"/public/results/{job_id}/view"):
        html = requests.get(f"{server.url}{path}", timeout=5).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
