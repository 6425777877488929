"""Mock of the Turbotext queue API as a real HTTP server (wire facts: reference/providers.md §2).

Usage::

    from tests.support.mock_turbotext import MockTurbotext
    from tests.support.mockserver import step

    with MockTurbotext(api_key="tt-1") as turbotext:
        app.config["TURBOTEXT_API_BASE"] = turbotext.url
        turbotext.enqueue(step("success", reconnects=3), "forbidden")  # one step per queued job
        ...
        job = turbotext.jobs[-1]            # QueuedJob: method, form, polls, step
        assert job.method == "mix_images" and job.form["url_image_target"] == photo_url
        assert all(f.ok for f in turbotext.fetches)  # the input links really served images

Constructor: ``MockTurbotext(*, api_key=None, fetch_inputs=True, fetch_timeout=5.0,
default="success", hang_seconds=60.0)``.

- ``POST /api_ai/<method>`` (urlencoded): a missing ``Authorization: Bearer ...``,
  or one other than ``api_key`` when set, answers 401 ``{"success":false,...}``.
  ``do=create_queue`` checks the method's required fields, then (``fetch_inputs``)
  GETs every ``url``/``url_image_target`` with ``requests`` and records a
  :class:`Fetch` in ``fetches``; a link that does not give an image fails the
  create with ``{"success":false,"error":...}``. Then one scripted step is
  consumed and bound to the new ``queueid``. ``do=get_result`` follows that step.
- ``GET /download.php?f=<name>`` and ``GET /generated/<name>`` serve the result PNG
  (recorded in ``downloads``).

Behaviours (options in brackets):

- ``success`` [reconnects=0, reconnect_success_false=False, result="top",
  color=(40,90,200), size=(64,48), broken_download=False, poll_errors=0] —
  ``reconnects`` polls answer ``{"action":"reconnect"}`` (with ``"success":false``
  if asked), then the docs' final answer. ``result`` chooses where the link is:
  ``"top"`` (top-level ``uploaded_image``), ``"data"`` (``data.uploaded_image``),
  ``"image"`` (absolute ``data.image[0]``), ``"image_relative"``, ``"none"``.
  ``poll_errors`` first polls answer HTTP 502. ``result_base`` replaces the mock's own
  URL in the link (another host); ``pad`` appends that many bytes to the served image.
- ``failure`` [error="...", reconnects=0] — final ``{"success":false,"error":...}``.
- ``forbidden`` [reconnects=0] — final with ``data.forbidden_content: true``.
- ``create_failure`` [error] — create_queue answers ``{"success":false,"error":...}``.
- ``unauthorized`` (401), ``rate_limited`` (429), ``server_error`` (502 HTML) — on create_queue.
- ``reset`` — create_queue gets a TCP RST.
- ``hang`` [seconds] — the first get_result hangs (``stop()`` releases it), then answers success.
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .mockserver import (
    RESET,
    Fetch,
    MockServer,
    RecordedRequest,
    Reply,
    Step,
    fetch_image,
    json_reply,
    png_bytes,
)

#: method -> required form fields (besides ``do``)
METHODS: dict[str, tuple[str, ...]] = {
    "mix_images": ("url_image_target", "url"),
    "deepfake_photo": ("url", "url_image_target"),
    "generate_image2image": ("url", "content"),
}
URL_FIELDS = ("url", "url_image_target")


@dataclass
class QueuedJob:
    queueid: int
    method: str
    form: dict[str, str]
    step: Step
    polls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class MockTurbotext(MockServer):
    """See the module docstring for the behaviours and options."""

    BEHAVIOURS: ClassVar[frozenset[str]] = frozenset(
        [
            "success",
            "failure",
            "forbidden",
            "create_failure",
            "unauthorized",
            "rate_limited",
            "server_error",
            "reset",
            "hang",
        ]
    )

    def __init__(
        self,
        *,
        api_key: str | None = None,
        fetch_inputs: bool = True,
        fetch_timeout: float = 5.0,
        default: str | Step = "success",
        hang_seconds: float = 60.0,
    ) -> None:
        self.api_key = api_key
        self.fetch_inputs = fetch_inputs
        self.fetch_timeout = fetch_timeout
        self.jobs: list[QueuedJob] = []
        self.fetches: list[Fetch] = []
        self.downloads: list[str] = []
        self._results: dict[str, bytes] = {}
        self._ids = itertools.count(1001)
        super().__init__(default=default, hang_seconds=hang_seconds)

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.jobs.clear()
            self.fetches.clear()
            self.downloads.clear()

    def handle(self, request: RecordedRequest) -> Reply | str:
        if request.method == "GET":
            return self._download(request)
        match = re.fullmatch(r"/api_ai/(\w+)", request.path)
        if not match:
            return Reply(404, b"<html>Not found</html>", "text/html")
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or (self.api_key is not None and auth != f"Bearer {self.api_key}"):
            return json_reply(401, {"success": False, "error": "Неверный API ключ"})
        form = request.form or {}
        if form.get("do") == "create_queue":
            return self._create(match.group(1), form)
        if form.get("do") == "get_result":
            return self._result(form.get("queueid", ""))
        return json_reply(200, {"success": False, "error": "Неизвестное действие"})

    def _create(self, method: str, form: dict[str, str]) -> Reply | str:
        if method not in METHODS:
            return json_reply(200, {"success": False, "error": f"Метод {method} недоступен"})
        missing = [name for name in METHODS[method] if not form.get(name)]
        if missing:
            return json_reply(200, {"success": False, "error": f"Не заполнено поле {missing[0]}"})
        if self.fetch_inputs:
            fetched = [
                fetch_image(name, form[name], self.fetch_timeout) for name in URL_FIELDS if form.get(name)
            ]
            with self.lock:
                self.fetches += fetched
            if not all(f.ok for f in fetched):
                return json_reply(
                    200,
                    {
                        "success": False,
                        "error": "Не удалось загрузить изображение по ссылке",
                    },
                )
        current = self.next_step()
        opts = current.options
        if current.name == "create_failure":
            return json_reply(
                200,
                {
                    "success": False,
                    "error": opts.get("error", "Недостаточно средств на балансе"),
                },
            )
        if current.name == "unauthorized":
            return json_reply(401, {"success": False, "error": "Неверный API ключ"})
        if current.name == "rate_limited":
            return json_reply(
                429,
                {"success": False, "error": "Слишком много запросов"},
                (("Retry-After", "7"),),
            )
        if current.name == "server_error":
            return Reply(502, b"<html><center>502 Bad Gateway</center></html>", "text/html")
        if current.name == "reset":
            return RESET
        job = QueuedJob(next(self._ids), method, dict(form), current)
        with self.lock:
            self.jobs.append(job)
        return json_reply(200, {"success": True, "queueid": job.queueid})

    def _result(self, queueid: str) -> Reply:
        job = next((j for j in self.jobs if str(j.queueid) == queueid), None)
        if job is None:
            return json_reply(200, {"success": False, "error": "Задача не найдена"})
        with job.lock:
            job.polls += 1
            poll = job.polls
        name, opts = job.step.name, job.step.options
        if poll <= int(opts.get("poll_errors", 0)):
            return Reply(502, b"<html><center>502 Bad Gateway</center></html>", "text/html")
        poll -= int(opts.get("poll_errors", 0))
        if name == "hang" and poll == 1:
            self.hang(opts.get("seconds"))
        if poll <= int(opts.get("reconnects", 0)):
            still = (
                {"success": False, "action": "reconnect"}
                if opts.get("reconnect_success_false")
                else {"action": "reconnect"}
            )
            return json_reply(200, still)
        if name == "failure":
            return json_reply(
                200,
                {
                    "success": False,
                    "error": opts.get("error", "Не удалось обработать изображение"),
                },
            )
        if name == "forbidden":
            data = {"image": [], "width": 0, "height": 0, "forbidden_content": True}
            return json_reply(200, {"success": True, "error": "", "data": data})
        return json_reply(200, self._final(job, opts))

    def _final(self, job: QueuedJob, opts: dict[str, Any]) -> dict[str, Any]:
        name = f"result-{job.queueid}.png"
        w, h = opts.get("size", (64, 48))
        r, g, b = opts.get("color", (40, 90, 200))
        image = png_bytes((w, h), (r, g, b)) + b"\0" * int(opts.get("pad", 0))
        with self.lock:
            self._results[name] = b"<html>oops</html>" if opts.get("broken_download") else image
        base = str(opts.get("result_base", self.url))
        download = f"{base}/download.php?f={name}"
        relative = f"/generated/{name}"
        data: dict[str, Any] = {
            "image": [],
            "width": w,
            "height": h,
            "forbidden_content": False,
        }
        answer: dict[str, Any] = {"success": True, "error": "", "data": data}
        where = opts.get("result", "top")
        if where == "top":
            answer["uploaded_image"] = download
            data["image"] = [self.url + relative]
        elif where == "data":
            data["uploaded_image"] = download
        elif where == "image":
            data["image"] = [self.url + relative]
        elif where == "image_relative":
            data["image"] = [relative]
        return answer

    def _download(self, request: RecordedRequest) -> Reply:
        if request.path == "/download.php":
            name = request.query.get("f", "")
        elif request.path.startswith("/generated/"):
            name = request.path.removeprefix("/generated/")
        else:
            return Reply(404, b"<html>Not found</html>", "text/html")
        with self.lock:
            self.downloads.append(request.path)
            data = self._results.get(name)
        if data is None:
            return Reply(404, b"<html>Not found</html>", "text/html")
        return Reply(200, data, "image/png")
