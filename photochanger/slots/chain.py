"""A slot's fallback chain: the ordered provider steps an ingest tries, all in one deadline.

Step 0 is the slot's own provider, operation and settings; ``chain_json`` adds
its retry policy and time share and the fallback steps after it. A slot
without ``chain_json`` is a chain of one that retries as before.

Each step but the last gets ``time_share`` of the time left when it starts
(:data:`DEFAULT_TIME_SHARE` unless set); the last gets all that is left. A step
whose provider refuses at once (an open circuit, a bad key) hands over at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from photochanger.providers.base import ProviderDriver
from photochanger.slots.catalog import validate_slot_settings
from photochanger.validation import check, field_error

#: Share of the time left that a step which is not the last may use: the rest stays for the next.
DEFAULT_TIME_SHARE = 0.6
MAX_FALLBACKS = 4
MAX_ATTEMPTS = 10

RETRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        # null: as many tries as the step's time allows
        "attempts": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_ATTEMPTS},
        # null: the default schedule 0.3 / 0.8 / 1.5 / 2.5 s; a number doubles after each retry
        "backoff_seconds": {"type": ["number", "null"], "minimum": 0, "maximum": 30},
    },
}
TIME_SHARE_SCHEMA: dict[str, Any] = {"type": ["number", "null"], "minimum": 0.1, "maximum": 0.9}


def step_properties(drivers: Mapping[str, ProviderDriver]) -> dict[str, Any]:
    """The JSON-schema properties of one provider step: a fallback's, and the slot's own in its body."""
    return {
        "provider": {"type": "string", "enum": sorted(drivers)},
        "operation": {"type": "string", "minLength": 1, "maxLength": 64},
        "settings": {"type": "object"},
        "retry": RETRY_SCHEMA,
        "time_share": TIME_SHARE_SCHEMA,
    }


def provider_branches(
    drivers: Mapping[str, ProviderDriver], *, templates: bool = False
) -> list[dict[str, Any]]:
    """``anyOf`` branches, one per provider: the operations it runs (and, with ``templates``, how many
    templates it takes), so a body naming a provider is checked against it by the schema alone."""
    branches = []
    for name in sorted(drivers):
        driver = drivers[name]
        properties: dict[str, Any] = {
            "provider": {"enum": [name]},
            "operation": {"enum": list(driver.operations)},
        }
        if templates and driver.max_templates is not None:
            properties["template_media"] = {"maxItems": driver.max_templates}
        branches.append({"properties": properties})
    return branches


def fallback_schema(drivers: Mapping[str, ProviderDriver], *, combos: bool = True) -> dict[str, Any]:
    """One fallback step in a ``PUT /api/slots/{id}`` body.

    ``combos=False`` leaves out the provider/operation branches: the server checks those in code
    (:func:`_fallback`), to name the field in its answer; the contract publishes them.
    """
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["provider"],
        "properties": step_properties(drivers),
    }
    return {**schema, "anyOf": provider_branches(drivers)} if combos else schema


@dataclass(frozen=True)
class RetryPolicy:
    """How often a step tries its provider and how long it waits between tries."""

    attempts: int | None = None
    backoff_seconds: float | None = None

    @classmethod
    def of(cls, raw: Any) -> RetryPolicy:
        raw = raw if isinstance(raw, dict) else {}
        attempts, backoff = raw.get("attempts"), raw.get("backoff_seconds")
        return cls(
            int(attempts) if attempts is not None else None,
            float(backoff) if backoff is not None else None,
        )

    def view(self) -> dict[str, Any]:
        return {"attempts": self.attempts, "backoff_seconds": self.backoff_seconds}


@dataclass(frozen=True)
class ChainStep:
    """One provider step of a slot's chain, as plain values."""

    provider: str
    operation: str
    settings: dict[str, Any]
    retry: RetryPolicy = RetryPolicy()
    time_share: float | None = None


def chain_of(
    provider: str, operation: str, settings: Mapping[str, Any], chain_json: Mapping[str, Any] | None
) -> tuple[ChainStep, ...]:
    """The slot's steps, its own provider first."""
    raw = dict(chain_json or {})
    first = ChainStep(
        provider, operation, dict(settings), RetryPolicy.of(raw.get("retry")), _share(raw.get("time_share"))
    )
    rest = [
        ChainStep(
            str(item["provider"]),
            str(item["operation"]),
            dict(item.get("settings") or {}),
            RetryPolicy.of(item.get("retry")),
            _share(item.get("time_share")),
        )
        for item in raw.get("fallbacks") or []
        if isinstance(item, dict) and item.get("provider") and item.get("operation")
    ]
    return (first, *rest)


def _share(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def chain_view(chain_json: Mapping[str, Any] | None) -> dict[str, Any]:
    """The chain fields of ``GET /api/slots/{id}``: ``retry``, ``time_share``, ``fallbacks``."""
    raw = dict(chain_json or {})
    return {
        "retry": RetryPolicy.of(raw.get("retry")).view(),
        "time_share": _share(raw.get("time_share")),
        "fallbacks": [
            {
                "provider": item["provider"],
                "operation": item["operation"],
                "settings": dict(item.get("settings") or {}),
                "retry": RetryPolicy.of(item.get("retry")).view(),
                "time_share": _share(item.get("time_share")),
            }
            for item in raw.get("fallbacks") or []
        ],
        "default_time_share": DEFAULT_TIME_SHARE,
    }


def updated_chain(
    current: Mapping[str, Any] | None, body: Mapping[str, Any], drivers: Mapping[str, ProviderDriver]
) -> dict[str, Any]:
    """``chain_json`` after a PUT body (already checked against the slot update schema).

    Omitted fields keep their values; each fallback's settings are the
    defaults of its operation's schema overlaid with what was sent, and must
    satisfy that schema.
    """
    out = dict(current or {})
    if "retry" in body:
        out["retry"] = RetryPolicy.of(body["retry"]).view()
    if "time_share" in body:
        out["time_share"] = body["time_share"]
    if "fallbacks" in body:
        out["fallbacks"] = [_fallback(i, item, drivers) for i, item in enumerate(body["fallbacks"])]
    return {k: v for k, v in out.items() if v not in (None, [], {})}


def _fallback(index: int, item: Mapping[str, Any], drivers: Mapping[str, ProviderDriver]) -> dict[str, Any]:
    where = f"fallbacks[{index}]"
    provider = str(item["provider"])
    driver = drivers[provider]
    operation = str(item.get("operation") or next(iter(driver.operations)))
    if operation not in driver.operations:
        allowed = ", ".join(driver.operations)
        raise field_error(
            f"{where}.operation",
            f"операция «{operation}» не поддерживается провайдером {provider}; допустимы: {allowed}",
        )
    settings = {**driver.default_settings(operation), **(item.get("settings") or {})}
    problems = validate_slot_settings(driver, operation, settings)
    if problems:
        check(driver.settings_schema(operation), settings, prefix=f"{where}.settings")
        raise field_error(f"{where}.{problems[0].field}", problems[0].message)
    step: dict[str, Any] = {"provider": provider, "operation": operation, "settings": settings}
    if item.get("retry") is not None:
        step["retry"] = RetryPolicy.of(item["retry"]).view()
    if item.get("time_share") is not None:
        step["time_share"] = item["time_share"]
    return step
