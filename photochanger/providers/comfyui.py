"""A self-hosted ComfyUI server: upload the inputs, queue the slot's workflow, poll, fetch the image.

Wire facts are in ``reference/providers.md`` §4. The slot stores an API-format
workflow (JSON text) with placeholders the driver fills in:

- ``{{photo}}`` — the uploaded guest photo's name (for a ``LoadImage`` node);
- ``{{template}}`` / ``{{template_1}}``, ``{{template_2}}`` … — uploaded slot templates;
- ``{{prompt}}`` — the slot prompt; ``{{seed}}`` — the slot seed, or a random
  one per call (a value that is exactly ``"{{seed}}"`` becomes a number).

The shipped examples are ``workflows/face_swap.json`` (ReActor), ``workflows/img2img.json``
and, for text-to-image (no ``{{photo}}``), ``workflows/flux_text_to_image.json`` (FLUX.1 dev).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any, ClassVar

import requests

from photochanger.media.images import EXT_BY_MIME
from photochanger.providers import base, transport
from photochanger.providers.base import CallContext, FailureKind, ProviderError, ProviderJob, ProviderResult
from photochanger.providers.transport import as_dict, as_list

DEFAULT_BASE_URL = "http://127.0.0.1:8188"
MAX_SEED = 2**32 - 1
_IMAGE_PLACEHOLDER = re.compile(r"\{\{(photo|template(?:_(\d+))?)\}\}")


def shipped_workflow(name: str) -> str:
    """The text of an example workflow shipped in ``providers/workflows/``."""
    return resources.files("photochanger.providers").joinpath("workflows", name).read_text("utf-8")


def _workflow_setting(default_file: str) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 2,
        "maxLength": 200_000,
        "default": shipped_workflow(default_file),
        "title": "Workflow ComfyUI (формат API, JSON)",
        "description": "Подстановки: {{photo}} — фото гостя, {{template}} / {{template_2}} — шаблоны, "
        "{{prompt}} — промпт, {{seed}} — зерно",
    }


_SEED = {
    "type": "integer",
    "minimum": 0,
    "maximum": MAX_SEED,
    "title": "Зерно (seed)",
    "description": "Пусто — случайное",
}


def fill(node: Any, values: Mapping[str, Any]) -> Any:
    """``node`` with every ``{{name}}`` replaced; a string that is only ``{{seed}}`` becomes the number."""
    if isinstance(node, dict):
        return {k: fill(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [fill(v, values) for v in node]
    if isinstance(node, str) and "{{" in node:
        whole = re.fullmatch(r"\{\{(\w+)\}\}", node)
        if whole and whole.group(1) in values and not isinstance(values[whole.group(1)], str):
            return values[whole.group(1)]
        return re.sub(r"\{\{(\w+)\}\}", lambda m: str(values.get(m.group(1), m.group(0))), node)
    return node


class ComfyUIDriver(transport.HttpDriver):
    """Runs the slot's workflow on the studio's ComfyUI server (``COMFYUI_API_BASE``)."""

    name = "comfyui"
    title = "ComfyUI (свой сервер)"
    operations: ClassVar[Mapping[str, str]] = {
        "identity_transfer": "Замена лица (workflow ComfyUI)",
        "image_edit": "Изменение фото по промпту (workflow ComfyUI)",
        base.TEXT_TO_IMAGE: "Картинка по промпту (workflow ComfyUI, фото гостя не используется)",
    }
    text_to_image_operations = frozenset({base.TEXT_TO_IMAGE})
    default_base_url = DEFAULT_BASE_URL
    key_optional = True
    max_templates = 4
    settings_schemas: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "identity_transfer": base.slot_settings_schema(
            {
                "workflow": _workflow_setting("face_swap.json"),
                "prompt": {"type": "string", "title": "Промпт (если workflow его использует)"},
                "seed": _SEED,
            },
            required=["workflow"],
        ),
        "image_edit": base.slot_settings_schema(
            {
                "workflow": _workflow_setting("img2img.json"),
                "prompt": base.PROMPT_SETTING,
                "seed": _SEED,
            },
            required=["workflow", "prompt"],
        ),
        base.TEXT_TO_IMAGE: base.slot_settings_schema(
            {
                "workflow": _workflow_setting("flux_text_to_image.json"),
                "prompt": base.PROMPT_SETTING,
                "seed": _SEED,
            },
            required=["workflow", "prompt"],
        ),
    }

    def process(self, job: ProviderJob, ctx: CallContext) -> ProviderResult:
        if job.operation not in self.operations:
            raise ProviderError(FailureKind.NOT_CONFIGURED, f"comfyui: unknown operation {job.operation!r}")
        key = self.optional_api_key(job)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        text = str(job.settings.get("workflow") or "")
        try:
            workflow = json.loads(text)
        except ValueError as exc:
            raise ProviderError(
                FailureKind.NOT_CONFIGURED, f"comfyui: the workflow is not JSON: {exc}"
            ) from exc
        if not isinstance(workflow, dict) or not workflow:
            raise ProviderError(
                FailureKind.NOT_CONFIGURED, "comfyui: the workflow must be a JSON object of nodes"
            )

        values: dict[str, Any] = {"prompt": job.prompt, "seed": self.seed(job.settings)}
        for placeholder, image in self.inputs_used(text, job).items():
            values[placeholder] = self._upload(ctx, headers, job, placeholder, image)
        if values.get("template_1") is not None:
            values["template"] = values["template_1"]
        prompt_id = self._queue(ctx, headers, fill(workflow, values), job.job_id)

        def probe() -> dict[str, Any] | None:
            resp = transport.send(ctx, "GET", f"{self.base_url}/history/{prompt_id}", headers=headers)
            if resp.status_code != 200:
                raise transport.status_failure(resp, "comfyui history")
            entry = as_dict(as_dict(transport.json_of(resp, "comfyui history")).get(prompt_id))
            return entry or None  # {} until the prompt has finished

        entry = transport.poll(ctx, self.config.poll_interval, probe)
        self._check_status(as_dict(entry.get("status")))
        return self._fetch(ctx, headers, self.output_image(entry))

    @staticmethod
    def seed(settings: Mapping[str, Any]) -> int:
        value = settings.get("seed")
        return int(value) if value is not None else random.randint(0, MAX_SEED)

    @staticmethod
    def inputs_used(text: str, job: ProviderJob) -> dict[str, base.ImageInput]:
        """The images the workflow refers to, by placeholder (``photo``, ``template_1`` …)."""
        used: dict[str, base.ImageInput] = {}
        for match in _IMAGE_PLACEHOLDER.finditer(text):
            if match.group(1) == "photo":
                used["photo"] = job.guest_photo("comfyui")
                continue
            number = int(match.group(2) or 1)
            if number > len(job.templates):
                raise ProviderError(
                    FailureKind.NOT_CONFIGURED,
                    f"comfyui: the workflow uses {match.group(0)}, "
                    f"the slot has {len(job.templates)} template(s)",
                )
            used[f"template_{number}"] = job.templates[number - 1]
        return used

    # -- wire ------------------------------------------------------------------

    def _upload(
        self,
        ctx: CallContext,
        headers: Mapping[str, str],
        job: ProviderJob,
        placeholder: str,
        image: base.ImageInput,
    ) -> str:
        """``POST /upload/image``; the name to put in a ``LoadImage`` node."""
        filename = f"photochanger-{job.job_id}-{placeholder}.{EXT_BY_MIME.get(image.mime, 'jpg')}"
        resp = transport.send(
            ctx,
            "POST",
            f"{self.base_url}/upload/image",
            files={"image": (filename, image.data, image.mime)},
            data={"overwrite": "true", "type": "input"},
            headers=dict(headers),
        )
        if resp.status_code != 200:
            raise transport.status_failure(resp, "comfyui upload")
        answer = as_dict(transport.json_of(resp, "comfyui upload"))
        name, subfolder = answer.get("name"), answer.get("subfolder")
        if not isinstance(name, str) or not name:
            raise ProviderError(
                FailureKind.BAD_RESPONSE, "comfyui: upload answer without a name", retryable=True
            )
        return f"{subfolder}/{name}" if isinstance(subfolder, str) and subfolder else name

    def _queue(self, ctx: CallContext, headers: Mapping[str, str], prompt: Any, job_id: str) -> str:
        resp = transport.send(
            ctx,
            "POST",
            f"{self.base_url}/prompt",
            json={"prompt": prompt, "client_id": f"photochanger-{job_id}"},
            headers=dict(headers),
        )
        if resp.status_code == 400:
            raise self._invalid_workflow(resp)
        if resp.status_code != 200:
            raise transport.status_failure(resp, "comfyui prompt")
        prompt_id = as_dict(transport.json_of(resp, "comfyui prompt")).get("prompt_id")
        if not isinstance(prompt_id, str) or not prompt_id:
            raise ProviderError(
                FailureKind.BAD_RESPONSE, "comfyui: /prompt answered no prompt_id", retryable=True
            )
        return prompt_id

    @staticmethod
    def output_image(entry: Mapping[str, Any]) -> dict[str, Any]:
        """The last saved image (``type: output``); previews (``temp``) only when nothing was saved."""
        images = [
            as_dict(image)
            for output in as_dict(entry.get("outputs")).values()
            for image in as_list(as_dict(output).get("images"))
        ]
        saved = [i for i in images if i.get("type", "output") == "output"]
        chosen = (saved or images)[-1] if images else {}
        if not chosen.get("filename"):
            raise ProviderError(FailureKind.BAD_RESPONSE, "comfyui: the workflow finished without an image")
        return chosen

    def _fetch(
        self, ctx: CallContext, headers: Mapping[str, str], image: Mapping[str, Any]
    ) -> ProviderResult:
        params = {
            "filename": str(image.get("filename")),
            "subfolder": str(image.get("subfolder") or ""),
            "type": str(image.get("type") or "output"),
        }
        resp = transport.send(ctx, "GET", f"{self.base_url}/view", params=params, headers=dict(headers))
        if resp.status_code != 200:
            raise transport.status_failure(resp, "comfyui view")
        return transport.checked_image(resp.content, "comfyui")

    # -- errors ----------------------------------------------------------------

    @staticmethod
    def _invalid_workflow(resp: requests.Response) -> ProviderError:
        """400 from ``/prompt``: the workflow does not fit this server (missing node or model)."""
        body = transport.error_body(resp)
        error = body.get("error")
        message = str(as_dict(error).get("message") or "") if isinstance(error, dict) else str(error or "")
        problems = [
            f"{node_id} ({as_dict(node).get('class_type')}): "
            f"{as_dict(e).get('message')} {as_dict(e).get('details') or ''}".strip()
            for node_id, node in as_dict(body.get("node_errors")).items()
            for e in as_list(as_dict(node).get("errors"))
        ]
        detail = "; ".join([message, *problems]) if problems else message or resp.text[:200]
        return ProviderError(
            FailureKind.NOT_CONFIGURED, f"comfyui: the server rejected the workflow: {detail}"
        )

    @staticmethod
    def _check_status(status: Mapping[str, Any]) -> None:
        """Runtime failures appear only in the history: ``status_str: "error"`` and its messages."""
        if status.get("status_str") != "error":
            return
        events = {
            str(m[0]): as_dict(m[1])
            for m in as_list(status.get("messages"))
            if isinstance(m, list) and len(m) == 2
        }
        if "execution_interrupted" in events:
            raise ProviderError(FailureKind.PROVIDER_5XX, "comfyui: the run was interrupted", retryable=True)
        error = events.get("execution_error", {})
        exc_type = str(error.get("exception_type") or "")
        message = str(error.get("exception_message") or "no error message").strip()
        what = (
            f"comfyui: node {error.get('node_id')} ({error.get('node_type')}) failed: {exc_type}: {message}"
        )
        if "OutOfMemory" in exc_type or "out of memory" in message.lower():
            # The GPU was busy with something else; another run usually fits.
            raise ProviderError(FailureKind.PROVIDER_5XX, what, retryable=True)
        raise ProviderError(FailureKind.BAD_RESPONSE, what)
