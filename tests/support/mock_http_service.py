"""Mock of a studio's own image-in/image-out ML service (reference/providers.md §7, seed 001).

Usage::

    with MockHttpService(api_key="svc-1", accepts="multipart", field="file") as svc:
        slot settings: {"url": svc.endpoint, "field_name": "file", ...}
        svc.enqueue(step("json_url", relative=True), "unprocessable")
        ...
        req = svc.calls[-1]             # RecordedRequest: headers, files, form, json, body

The service listens at ``/segment`` (``endpoint``); other paths answer 404
and methods other than ``method`` 405, like a FastAPI app. It reads the
photo the way it was built for (``accepts``: ``multipart`` field ``field``,
``binary`` body, ``json_base64`` key ``field``): a request without it
answers 422 ``{"detail": [...]}`` before a step is consumed. With
``api_key`` set, ``X-API-Key: <key>`` (or ``Authorization: Bearer <key>``)
is required, else 401 ``{"detail": "Invalid API key"}``.

Behaviours (options in brackets):

- ``image`` [color=(90,90,10)] — 200 ``image/png`` body.
- ``json_base64`` [path="image", data_uri=False] — 200 JSON with base64 at ``path`` (dotted).
- ``json_url`` [path="result.url", relative=False, broken=False] — 200 JSON with a link
  to ``/results/<n>.png``.
- ``unprocessable`` — 422 ``{"detail": "No face detected"}``.
- ``legal`` — 451; ``unauthorized`` — 401; ``rate_limited`` — 429 with ``Retry-After``.
- ``unavailable`` — 503 text; ``server_error`` — 500 JSON ``{"error": ...}``.
- ``not_an_image`` — 200 ``text/html``; ``reset``; ``hang`` [seconds] (then ``image``).
"""

from __future__ import annotations

import base64
import binascii
import itertools
from typing import Any, ClassVar

from .mockserver import MockServer, RecordedRequest, Reply, Step, image_ok, json_reply, png_bytes

PATH = "/segment"


def _nest(path: str, value: Any) -> Any:
    """``{"data": [{"b64_json": value}]}`` for ``data.0.b64_json``."""
    for part in reversed(path.split(".")):
        value = [value] if part.isdigit() else {part: value}
    return value


class MockHttpService(MockServer):
    """See the module docstring for the behaviours and options."""

    BEHAVIOURS: ClassVar[frozenset[str]] = frozenset(
        [
            "image",
            "json_base64",
            "json_url",
            "unprocessable",
            "legal",
            "unauthorized",
            "rate_limited",
            "unavailable",
            "server_error",
            "not_an_image",
            "reset",
            "hang",
        ]
    )

    def __init__(
        self,
        *,
        api_key: str | None = None,
        accepts: str = "multipart",
        field: str = "image",
        method: str = "POST",
        default: str | Step = "image",
        hang_seconds: float = 60.0,
    ) -> None:
        self.api_key = api_key
        self.accepts = accepts
        self.field = field
        self.method = method
        self._results: dict[str, bytes] = {}
        self._ids = itertools.count(1)
        super().__init__(default=default, hang_seconds=hang_seconds)

    @property
    def endpoint(self) -> str:
        return self.url + PATH

    @property
    def calls(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == PATH]

    def handle(self, request: RecordedRequest) -> Reply | str:
        if request.path.startswith("/results/"):
            data = self._results.get(request.path.removeprefix("/results/"))
            return (
                Reply(200, data, "image/png") if data is not None else Reply(404, b"Not Found", "text/plain")
            )
        if request.path != PATH:
            return json_reply(404, {"detail": "Not Found"})
        if request.method != self.method:
            return json_reply(405, {"detail": "Method Not Allowed"})
        if self.api_key is not None and self.api_key not in (
            request.headers.get("x-api-key"),
            request.headers.get("authorization", "").removeprefix("Bearer "),
        ):
            return json_reply(401, {"detail": "Invalid API key"})
        if not self._photo_ok(request):
            loc = ["body", self.field] if self.accepts != "binary" else ["body"]
            return json_reply(422, {"detail": [{"loc": loc, "msg": "Field required", "type": "missing"}]})
        current = self.next_step()
        return self._reply(current.name, current.options)

    def _photo_ok(self, request: RecordedRequest) -> bool:
        if self.accepts == "multipart":
            part = next((f for f in request.files if f.field == self.field), None)
            return part is not None and image_ok(part.data)
        if self.accepts == "binary":
            return request.headers.get("content-type", "").startswith("image/") and image_ok(request.body)
        value = request.json.get(self.field) if isinstance(request.json, dict) else None
        try:
            return isinstance(value, str) and image_ok(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            return False

    def _reply(self, name: str, opts: dict[str, Any]) -> Reply | str:
        red, green, blue = opts.get("color", (90, 90, 10))
        image = png_bytes((64, 48), (int(red), int(green), int(blue)))
        if name == "image":
            return Reply(200, image, "image/png")
        if name == "json_base64":
            encoded = base64.b64encode(image).decode()
            if opts.get("data_uri"):
                encoded = "data:image/png;base64," + encoded
            return json_reply(200, _nest(str(opts.get("path", "image")), encoded))
        if name == "json_url":
            key = f"{next(self._ids)}.png"
            with self.lock:
                self._results[key] = b"<html>gone</html>" if opts.get("broken") else image
            link = f"/results/{key}" if opts.get("relative") else f"{self.url}/results/{key}"
            return json_reply(200, _nest(str(opts.get("path", "result.url")), link))
        if name == "unprocessable":
            return json_reply(422, {"detail": "No face detected"})
        if name == "legal":
            return json_reply(451, {"detail": "Refused by the content filter"})
        if name == "unauthorized":
            return json_reply(401, {"detail": "Invalid API key"})
        if name == "rate_limited":
            return json_reply(429, {"detail": "Too many requests"}, (("Retry-After", "3"),))
        if name == "unavailable":
            return Reply(503, b"Service Unavailable", "text/plain")
        if name == "server_error":
            return json_reply(500, {"error": "CUDA error: device-side assert triggered"})
        if name == "not_an_image":
            return Reply(200, b"<html>maintenance</html>", "text/html")
        answer = self.connection_answer(name, opts, lambda: self._reply("image", opts))
        if answer is None:
            raise AssertionError(name)
        return answer
