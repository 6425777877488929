"""A partner's webhook endpoint: records each call and checks its signature.

Behaviours: ``accept`` (204) and ``unavailable`` (503), scripted per call.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import ClassVar

from .mockserver import MockServer, RecordedRequest, Reply


class WebhookReceiver(MockServer):
    BEHAVIOURS: ClassVar[frozenset[str]] = frozenset({"accept", "unavailable"})

    def __init__(self, default: str = "accept") -> None:
        super().__init__(default=default)

    @property
    def endpoint(self) -> str:
        return f"{self.url}/hooks/photochanger"

    def handle(self, request: RecordedRequest) -> Reply:
        if self.next_step().name == "unavailable":
            return Reply(503, b"busy", "text/plain")
        return Reply(204, b"")

    @staticmethod
    def signature_ok(request: RecordedRequest, secret: str) -> bool:
        """The receiver's side of ``X-PhotoChanger-Signature``: HMAC-SHA256 of ``<timestamp>.<body>``."""
        signed = request.headers["x-photochanger-timestamp"].encode() + b"." + request.body
        expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, request.headers["x-photochanger-signature"])
