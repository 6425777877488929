"""Browser security headers on every answer of the app.

The pages load scripts only from ``/static`` (no inline script anywhere), so
the policy forbids inline and foreign scripts. Inline ``style=""`` attributes
stay allowed: the admin templates use them for spacing, and styles cannot run
code. Admin previews of a chosen photo are ``blob:`` URLs. No page may be
framed (clickjacking of the admin pages), and no address (a gallery link
carries its token) leaks to other sites through ``Referer``.
"""

from __future__ import annotations

from flask import Flask, Response

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def init_security_headers(app: Flask) -> None:
    """Add :data:`HEADERS` to every response that does not set its own."""

    @app.after_request
    def _security_headers(resp: Response) -> Response:
        for name, value in HEADERS.items():
            resp.headers.setdefault(name, value)
        return resp
