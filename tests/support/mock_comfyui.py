"""Mock of a ComfyUI server as a real HTTP server (wire facts: reference/providers.md §4).

Usage::

    with MockComfyUI() as comfy:
        app.config["COMFYUI_API_BASE"] = comfy.url
        comfy.enqueue(step("success", pending_polls=2), step("execution_error", exception_type="KeyError"))
        ...
        run = comfy.runs[-1]            # ComfyRun: prompt (the filled workflow), client_id, step
        comfy.uploads                   # {name: Upload} received by /upload/image

- ``POST /upload/image`` (multipart ``image``, ``overwrite``, ``type``) →
  ``{"name","subfolder":"","type":"input"}``; without ``overwrite=true`` an
  existing name becomes ``name (1).ext``.
- ``POST /prompt`` validates like ComfyUI before a step is consumed: no
  ``prompt`` → 400; a node class the server lacks → 400 ``invalid_prompt``;
  a ``LoadImage`` of a file never uploaded or a non-integer ``KSampler``
  seed → 400 ``prompt_outputs_failed_validation`` with ``node_errors``; no
  output node → 400 ``prompt_no_outputs``.
- ``GET /history/{id}`` → ``{}`` until done, then outputs and ``status``.
- ``GET /view?filename=&subfolder=&type=`` → the image bytes.
- ``api_key`` set: every call needs ``Authorization: Bearer <key>`` (a proxy in front), else 401.

Behaviours (options in brackets):

- ``success`` [pending_polls=1, color=(10,150,150), preview=False] — ``preview``
  also lists a ``temp`` image (a PreviewImage node) before the saved one.
- ``execution_error`` [exception_type="RuntimeError", exception_message=...,
  node_type="ReActorFaceSwap"] — ``status_str: "error"`` with an ``execution_error`` message.
- ``out_of_memory`` — an ``execution_error`` of ``torch.OutOfMemoryError``.
- ``interrupted`` — ``execution_interrupted``.
- ``no_outputs`` — success without images; ``view_missing`` — ``/view`` answers 404.
- ``missing_model`` — ``/prompt`` 400 ``value_not_in_list`` for the checkpoint.
- ``legacy_error`` — ``/prompt`` 400 ``{"error": "no prompt", "node_errors": []}`` (older builds).
- ``server_error`` — ``/prompt`` 500; ``reset`` — ``/prompt`` gets a TCP RST.
- ``hang`` — the history stays ``{}``.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .mockserver import RESET, MockServer, RecordedRequest, Reply, Step, Upload, json_reply, png_bytes

NODE_CLASSES = frozenset(
    {
        "LoadImage",
        "SaveImage",
        "PreviewImage",
        "ReActorFaceSwap",
        "CheckpointLoaderSimple",
        "VAEEncode",
        "VAEDecode",
        "CLIPTextEncode",
        "KSampler",
        # FLUX text-to-image (the shipped flux_text_to_image.json)
        "FluxGuidance",
        "EmptySD3LatentImage",
    }
)
OUTPUT_NODES = frozenset({"SaveImage", "PreviewImage"})


@dataclass
class ComfyRun:
    prompt_id: str
    prompt: dict[str, Any]
    client_id: str
    step: Step
    polls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def _invalid(kind: str, message: str, node_errors: dict[str, Any] | None = None, details: str = "") -> Reply:
    error = {"type": kind, "message": message, "details": details, "extra_info": {}}
    return json_reply(400, {"error": error, "node_errors": node_errors or {}})


def _node_error(node_id: str, class_type: str, kind: str, message: str, details: str) -> dict[str, Any]:
    return {
        node_id: {
            "errors": [{"type": kind, "message": message, "details": details, "extra_info": {}}],
            "dependent_outputs": [],
            "class_type": class_type,
        }
    }


class MockComfyUI(MockServer):
    """See the module docstring for the behaviours and options."""

    BEHAVIOURS: ClassVar[frozenset[str]] = frozenset(
        [
            "success",
            "execution_error",
            "out_of_memory",
            "interrupted",
            "no_outputs",
            "view_missing",
            "missing_model",
            "legacy_error",
            "server_error",
            "reset",
            "hang",
        ]
    )

    def __init__(
        self, *, api_key: str | None = None, default: str | Step = "success", hang_seconds: float = 60.0
    ) -> None:
        self.api_key = api_key
        self.uploads: dict[str, Upload] = {}
        self.runs: list[ComfyRun] = []
        self._outputs: dict[str, bytes] = {}
        self._numbers = itertools.count(1)
        super().__init__(default=default, hang_seconds=hang_seconds)

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.runs.clear()
            self.uploads.clear()

    def handle(self, request: RecordedRequest) -> Reply | str:
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return Reply(401, b"401: Unauthorized", "text/plain")
        if request.method == "POST" and request.path == "/upload/image":
            return self._upload(request)
        if request.method == "POST" and request.path == "/prompt":
            return self._prompt(request.json)
        if request.method == "GET" and request.path.startswith("/history/"):
            return self._history(request.path.removeprefix("/history/"))
        if request.method == "GET" and request.path == "/view":
            return self._view(request.query)
        if request.method == "GET" and request.path == "/system_stats":
            return json_reply(200, {"system": {"comfyui_version": "0.3.40"}, "devices": []})
        return Reply(404, b"404: Not Found", "text/plain")

    def _upload(self, request: RecordedRequest) -> Reply:
        part = next((f for f in request.files if f.field == "image"), None)
        if part is None:
            return Reply(400, b"", "text/plain")
        name = part.filename
        with self.lock:
            if name in self.uploads and (request.form or {}).get("overwrite") != "true":
                stem, _, ext = name.rpartition(".")
                name = f"{stem} (1).{ext}"
            self.uploads[name] = part
        return json_reply(
            200, {"name": name, "subfolder": "", "type": (request.form or {}).get("type", "input")}
        )

    def _prompt(self, body: Any) -> Reply | str:
        prompt = body.get("prompt") if isinstance(body, dict) else None
        if not isinstance(prompt, dict):
            return _invalid("no_prompt", "No prompt provided")
        problem = self.validate(prompt)
        if problem is not None:
            return problem
        current = self.next_step()
        if current.name == "missing_model":
            errors = _node_error(
                "1",
                "CheckpointLoaderSimple",
                "value_not_in_list",
                "Value not in list",
                "ckpt_name: 'sd_xl_base_1.0.safetensors' not in []",
            )
            return _invalid("prompt_outputs_failed_validation", "Prompt outputs failed validation", errors)
        if current.name == "legacy_error":
            return json_reply(400, {"error": "no prompt", "node_errors": []})
        if current.name == "server_error":
            return Reply(500, b"500 Internal Server Error", "text/plain")
        if current.name == "reset":
            return RESET
        run = ComfyRun(str(uuid.uuid4()), prompt, str(body.get("client_id") or ""), current)
        with self.lock:
            self.runs.append(run)
        return json_reply(200, {"prompt_id": run.prompt_id, "number": next(self._numbers), "node_errors": {}})

    def validate(self, prompt: dict[str, Any]) -> Reply | None:
        """The 400 ComfyUI answers for this workflow on this server, or ``None``."""
        for node_id, node in prompt.items():
            class_type = node.get("class_type") if isinstance(node, dict) else None
            if class_type not in NODE_CLASSES:
                return _invalid(
                    "invalid_prompt",
                    f"Cannot execute because node {class_type} does not exist.",
                    details=f"Node ID '#{node_id}'",
                )
        errors: dict[str, Any] = {}
        for node_id, node in prompt.items():
            inputs = node.get("inputs") or {}
            if node["class_type"] == "LoadImage" and inputs.get("image") not in self.uploads:
                detail = f"image - Invalid image file: {inputs.get('image')}"
                errors |= _node_error(
                    node_id, "LoadImage", "custom_validation_failed", "Custom validation failed", detail
                )
            if node["class_type"] == "KSampler" and not isinstance(inputs.get("seed"), int):
                message = "Failed to convert an input value to a INT value"
                detail = f"seed, {inputs.get('seed')}"
                errors |= _node_error(node_id, "KSampler", "invalid_input_type", message, detail)
        if errors:
            return _invalid("prompt_outputs_failed_validation", "Prompt outputs failed validation", errors)
        if not any(node["class_type"] in OUTPUT_NODES for node in prompt.values()):
            return _invalid("prompt_no_outputs", "Prompt has no outputs")
        return None

    def _history(self, prompt_id: str) -> Reply:
        run = next((r for r in self.runs if r.prompt_id == prompt_id), None)
        if run is None:
            return json_reply(200, {})
        with run.lock:
            run.polls += 1
            poll = run.polls
        name, opts = run.step.name, run.step.options
        if name == "hang" or poll <= int(opts.get("pending_polls", 1)):
            return json_reply(200, {})
        return json_reply(200, {prompt_id: self._entry(run)})

    def _entry(self, run: ComfyRun) -> dict[str, Any]:
        name, opts = run.step.name, run.step.options
        started = ["execution_start", {"prompt_id": run.prompt_id, "timestamp": 1}]
        if name in ("execution_error", "out_of_memory", "interrupted"):
            if name == "interrupted":
                event = [
                    "execution_interrupted",
                    {"prompt_id": run.prompt_id, "node_id": "3", "executed": []},
                ]
            else:
                oom = name == "out_of_memory"
                event = [
                    "execution_error",
                    {
                        "prompt_id": run.prompt_id,
                        "node_id": "3",
                        "node_type": opts.get("node_type", "ReActorFaceSwap"),
                        "executed": ["1", "2"],
                        "exception_message": "Allocation on device"
                        if oom
                        else opts.get(
                            "exception_message", "Error while deserializing header: MetadataIncompleteBuffer"
                        ),
                        "exception_type": "torch.OutOfMemoryError"
                        if oom
                        else opts.get("exception_type", "RuntimeError"),
                        "traceback": ["Traceback (most recent call last):", "..."],
                        "current_inputs": {},
                        "current_outputs": {},
                    },
                ]
            status = {"status_str": "error", "completed": False, "messages": [started, event]}
            return {
                "prompt": [0, run.prompt_id, run.prompt, {}, []],
                "outputs": {},
                "status": status,
                "meta": {},
            }
        outputs: dict[str, Any] = {}
        if name != "no_outputs":
            red, green, blue = opts.get("color", (10, 150, 150))
            filename = f"photochanger_{len(self._outputs) + 1:05d}_.png"
            with self.lock:
                self._outputs[filename] = png_bytes((64, 48), (int(red), int(green), int(blue)))
            save_node = next(k for k, n in run.prompt.items() if n["class_type"] == "SaveImage")
            if opts.get("preview"):
                outputs["99"] = {
                    "images": [{"filename": "ComfyUI_temp_0001.png", "subfolder": "", "type": "temp"}]
                }
            outputs[save_node] = {"images": [{"filename": filename, "subfolder": "", "type": "output"}]}
        messages = [
            started,
            ["execution_cached", {"nodes": [], "prompt_id": run.prompt_id}],
            ["execution_success", {"prompt_id": run.prompt_id}],
        ]
        status = {"status_str": "success", "completed": True, "messages": messages}
        return {
            "prompt": [0, run.prompt_id, run.prompt, {}, []],
            "outputs": outputs,
            "status": status,
            "meta": {},
        }

    def _view(self, query: dict[str, str]) -> Reply:
        run = self.runs[-1] if self.runs else None
        if run is not None and run.step.name == "view_missing":
            return Reply(404, b"", "text/plain")
        with self.lock:
            data = self._outputs.get(query.get("filename", "")) if query.get("type") == "output" else None
        if data is None:
            return Reply(404, b"", "text/plain")
        return Reply(200, data, "image/png")
