"""Registry of provider drivers, built from the deployment configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from photochanger.providers.base import DriverConfig, ProviderDriver
from photochanger.providers.comfyui import ComfyUIDriver
from photochanger.providers.fal import FalDriver
from photochanger.providers.gemini import GeminiDriver
from photochanger.providers.gpt_image import GptImageDriver
from photochanger.providers.http_service import HttpServiceDriver
from photochanger.providers.local import LocalDriver
from photochanger.providers.turbotext import TurbotextDriver

DRIVER_CLASSES: dict[str, type[ProviderDriver]] = {
    LocalDriver.name: LocalDriver,
    GeminiDriver.name: GeminiDriver,
    TurbotextDriver.name: TurbotextDriver,
    GptImageDriver.name: GptImageDriver,
    FalDriver.name: FalDriver,
    ComfyUIDriver.name: ComfyUIDriver,
    HttpServiceDriver.name: HttpServiceDriver,
}


def build_drivers(config: Mapping[str, Any]) -> dict[str, ProviderDriver]:
    """Instantiate every driver with its base URL and defaults from ``config``.

    ``config`` is the Flask config: ``{NAME}_API_BASE``, ``{NAME}_API_KEY``,
    ``PROVIDER_MAX_INPUT_SIDE``, ``PROVIDER_MIN_INPUT_SIDE``, ``PROVIDER_MAX_ANSWER_MB``,
    ``{NAME}_POLL_INTERVAL`` and ``{NAME}_RESULT_HOSTS`` (comma-separated) are read.
    """
    drivers: dict[str, ProviderDriver] = {}
    for name, cls in DRIVER_CLASSES.items():
        upper = name.upper()
        drivers[name] = cls(
            DriverConfig(
                base_url=str(config.get(f"{upper}_API_BASE") or ""),
                default_api_key=config.get(f"{upper}_API_KEY") or None,
                max_input_side=int(config.get("PROVIDER_MAX_INPUT_SIDE", 2048)),
                min_input_side=int(config.get("PROVIDER_MIN_INPUT_SIDE", 1024)),
                poll_interval=float(config.get(f"{upper}_POLL_INTERVAL", 2.0)),
                max_answer_bytes=int(config.get("PROVIDER_MAX_ANSWER_MB", 64)) * 1024 * 1024,
                result_hosts=_hosts(config.get(f"{upper}_RESULT_HOSTS")),
            )
        )
    return drivers


def _hosts(value: Any) -> tuple[str, ...]:
    """``"a.example, b.example"`` → ``("a.example", "b.example")``, lower-cased."""
    return tuple(h.strip().lower() for h in str(value or "").split(",") if h.strip())
