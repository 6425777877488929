"""Mock of the FAL queue as a real HTTP server (wire facts: reference/providers.md §3).

Usage::

    with MockFal(api_key="fal-1") as fal:
        app.config["FAL_API_BASE"] = fal.url
        fal.enqueue(step("success", queued=2, in_progress=1), "content_policy")
        ...
        job = fal.jobs[-1]           # FalJob: model, input, polls, step
        assert fal.cdn.requests      # the result image was downloaded from the CDN host

- ``POST /{owner}/{app}[/{subpath}]`` (JSON) with ``Authorization: Key <key>``
  (missing → 401, other than ``api_key`` → 401). Unknown model → 404. The
  input is checked like the model's schema (422 ``detail`` list, type
  ``missing``; an ``aspect_ratio`` Imagen 4 lacks, ``literal_error``) and the
  input links are fetched (``fetches``). Answers
  ``IN_QUEUE`` with ``status_url``/``response_url`` that **drop the subpath**:
  a URL built with it answers 404.
- ``GET .../requests/{id}/status`` → 202 ``IN_QUEUE`` / ``IN_PROGRESS``, then
  200 ``COMPLETED`` (with ``error``/``error_type`` for request errors).
- ``GET .../requests/{id}`` → the model output, or the step's error.
- Result images live on a separate host, ``cdn`` (a :class:`FileHost`).

Behaviours (options in brackets; ``queued``/``in_progress`` = 202 polls before completion):

- ``success`` [queued=0, in_progress=1, color=(120,0,160), data_uri=False, broken_image=False]
- ``content_policy`` — result 422 ``content_policy_violation``.
- ``image_too_small`` — result 422 validation error (not retryable).
- ``nsfw`` — result 200 with ``has_nsfw_concepts: [true]`` (a black image).
- ``no_images`` — result 200 ``{"images": []}``.
- ``request_timeout`` — status carries ``error_type: request_timeout``; result 504.
- ``runner_failure`` — result 503 ``runner_scheduling_failure``.
- ``balance_exhausted`` — submit 403 "User is locked. Reason: Exhausted balance ...".
- ``rate_limited`` — submit 429 with ``Retry-After``.
- ``submit_error`` — submit 500 ``internal_server_error``.
- ``reset`` — submit gets a TCP RST.
- ``hang`` — never completes (polls answer 202 ``IN_PROGRESS`` forever).
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .mockserver import (
    RESET,
    Fetch,
    FileHost,
    MockServer,
    RecordedRequest,
    Reply,
    Step,
    fetch_image,
    json_reply,
    png_bytes,
)

LOCKED = "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing."
#: model -> required input fields
MODELS: dict[str, tuple[str, ...]] = {
    "fal-ai/nano-banana/edit": ("prompt", "image_urls"),
    "fal-ai/flux-pro/kontext": ("prompt", "image_url"),
    "fal-ai/imagen4/preview": ("prompt",),
}
#: model -> the aspect ratios its schema allows (others: 422 ``literal_error``)
ASPECT_RATIOS: dict[str, tuple[str, ...]] = {
    "fal-ai/imagen4/preview": ("1:1", "16:9", "9:16", "3:4", "4:3"),
}


@dataclass
class FalJob:
    request_id: str
    model: str
    input: dict[str, Any]
    step: Step
    polls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def _model_error(loc: list[str], msg: str, kind: str) -> list[dict[str, Any]]:
    return [{"loc": loc, "msg": msg, "type": kind, "url": f"https://docs.fal.ai/errors/#{kind}"}]


class MockFal(MockServer):
    """See the module docstring for the behaviours and options."""

    BEHAVIOURS: ClassVar[frozenset[str]] = frozenset(
        [
            "success",
            "content_policy",
            "image_too_small",
            "nsfw",
            "no_images",
            "request_timeout",
            "runner_failure",
            "balance_exhausted",
            "rate_limited",
            "submit_error",
            "reset",
            "hang",
        ]
    )

    def __init__(
        self,
        *,
        api_key: str | None = None,
        fetch_inputs: bool = True,
        default: str | Step = "success",
        hang_seconds: float = 60.0,
    ) -> None:
        self.api_key = api_key
        self.fetch_inputs = fetch_inputs
        self.jobs: list[FalJob] = []
        self.fetches: list[Fetch] = []
        self.cdn = FileHost()
        self._ids = itertools.count(1)
        super().__init__(default=default, hang_seconds=hang_seconds)

    def reset(self) -> None:
        super().reset()
        self.cdn.reset()
        with self.lock:
            self.jobs.clear()
            self.fetches.clear()

    def stop(self) -> None:
        self.cdn.stop()
        super().stop()

    def handle(self, request: RecordedRequest) -> Reply | str:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Key "):
            return json_reply(401, {"detail": "Missing authorization header"})
        if self.api_key is not None and auth != f"Key {self.api_key}":
            return json_reply(401, {"detail": "Invalid API key"})
        path = request.path.strip("/")
        if request.method == "POST":
            return self._submit(path, request.json)
        match = re.fullmatch(r"([^/]+/[^/]+)/requests/([^/]+)(/status)?", path)
        job = next((j for j in self.jobs if match and j.request_id == match.group(2)), None)
        if job is None or match is None or job.model.split("/")[:2] != match.group(1).split("/"):
            return json_reply(404, {"detail": f"Path /{path} not found"})
        return self._status(job) if match.group(3) else self._result(job)

    # -- submit ----------------------------------------------------------------

    def _submit(self, model: str, body: Any) -> Reply | str:
        if model not in MODELS:
            return json_reply(404, {"detail": f"Application '{model}' not found"})
        if not isinstance(body, dict):
            return json_reply(
                422, {"detail": _model_error(["body"], "Input should be an object", "model_attributes_type")}
            )
        missing = [name for name in MODELS[model] if not body.get(name)]
        if missing:
            return json_reply(
                422, {"detail": _model_error(["body", missing[0]], "Field required", "missing")}
            )
        ratios = ASPECT_RATIOS.get(model)
        if ratios and "aspect_ratio" in body and body["aspect_ratio"] not in ratios:
            message = "Input should be " + ", ".join(f"'{r}'" for r in ratios)
            return json_reply(
                422, {"detail": _model_error(["body", "aspect_ratio"], message, "literal_error")}
            )
        if self.fetch_inputs:
            links = [*body.get("image_urls", []), *([body["image_url"]] if "image_url" in body else [])]
            fetched = [fetch_image("image", str(url), 5.0) for url in links]
            with self.lock:
                self.fetches += fetched
            if not all(f.ok for f in fetched):
                return json_reply(
                    422,
                    {
                        "detail": _model_error(
                            ["body", "image_urls"], "File download error", "file_download_error"
                        )
                    },
                )
        current = self.next_step()
        if current.name == "balance_exhausted":
            return json_reply(403, {"detail": LOCKED})
        if current.name == "rate_limited":
            return json_reply(429, {"detail": "Too many concurrent requests"}, (("Retry-After", "5"),))
        if current.name == "submit_error":
            return json_reply(
                500, {"detail": _model_error(["body"], "Internal server error", "internal_server_error")}
            )
        if current.name == "reset":
            return RESET
        job = FalJob(f"req-{next(self._ids):04d}", model, body, current)
        with self.lock:
            self.jobs.append(job)
        # The queue URLs keep owner/app and drop the subpath (e.g. "/edit").
        app = "/".join(model.split("/")[:2])
        base = f"{self.url}/{app}/requests/{job.request_id}"
        return json_reply(
            200,
            {
                "status": "IN_QUEUE",
                "request_id": job.request_id,
                "response_url": base,
                "status_url": f"{base}/status",
                "cancel_url": f"{base}/cancel",
                "queue_position": 0,
            },
        )

    # -- status and result -------------------------------------------------------

    def _status(self, job: FalJob) -> Reply:
        with job.lock:
            job.polls += 1
            poll = job.polls
        opts = job.step.options
        queued, running = int(opts.get("queued", 0)), int(opts.get("in_progress", 1))
        if poll <= queued:
            return json_reply(
                202, {"status": "IN_QUEUE", "queue_position": queued - poll, "request_id": job.request_id}
            )
        if poll <= queued + running or job.step.name == "hang":
            return json_reply(202, {"status": "IN_PROGRESS", "logs": None, "request_id": job.request_id})
        done: dict[str, Any] = {"status": "COMPLETED", "logs": None, "metrics": {"inference_time": 1.2}}
        if job.step.name == "request_timeout":
            done.update(error="Request timed out", error_type="request_timeout")
        return json_reply(200, {**done, "request_id": job.request_id})

    def _result(self, job: FalJob) -> Reply:
        name, opts = job.step.name, job.step.options
        if name == "content_policy":
            detail = _model_error(
                ["body", "prompt"],
                "The content could not be processed because it contained material flagged "
                "by a content checker.",
                "content_policy_violation",
            )
            return json_reply(422, {"detail": detail}, (("X-Fal-Retryable", "false"),))
        if name == "image_too_small":
            detail = _model_error(["body", "image_url"], "Image too small", "image_too_small")
            return json_reply(422, {"detail": detail})
        if name == "request_timeout":
            return json_reply(
                504,
                {"detail": "Request timed out", "error_type": "request_timeout"},
                (("X-Fal-Error-Type", "request_timeout"),),
            )
        if name == "runner_failure":
            return json_reply(
                503,
                {"detail": "No runner could be allocated", "error_type": "runner_scheduling_failure"},
                (("X-Fal-Error-Type", "runner_scheduling_failure"),),
            )
        if name == "no_images":
            return json_reply(200, {"images": [], "description": ""})
        red, green, blue = opts.get("color", (120, 0, 160))
        color = (0, 0, 0) if name == "nsfw" else (int(red), int(green), int(blue))
        data = b"<html>expired</html>" if opts.get("broken_image") else png_bytes((64, 48), color)
        if opts.get("data_uri"):
            url = "data:image/png;base64," + base64.b64encode(data).decode()
        else:
            url = self.cdn.add(f"{job.request_id}.png", data, "image/png")
        image = {
            "url": url,
            "content_type": "image/png",
            "file_name": f"{job.request_id}.png",
            "width": 64,
            "height": 48,
        }
        output: dict[str, Any] = {"images": [image], "description": ""}
        if job.model == "fal-ai/flux-pro/kontext":
            output.update(has_nsfw_concepts=[name == "nsfw"], seed=42, prompt=job.input.get("prompt"))
        return json_reply(200, output)
