"""Global settings as admins see and change them (``GET|PUT /api/settings``).

Values land in ``app_settings``, which every request reads afresh, so a change
reaches every gunicorn worker on its very next request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from photochanger.auth.passwords import MIN_INGEST_PASSWORD, hash_password
from photochanger.clock import iso_z
from photochanger.config import HARD_UPLOAD_CAP_MB
from photochanger.providers.base import ProviderDriver
from photochanger.settings.provider_keys import key_status, save_api_key
from photochanger.settings.store import SYNC_MAX, SYNC_MIN, RuntimeSettings, save_setting
from photochanger.validation import check

#: Plain settings an admin may change: name -> JSON schema.
EDITABLE: dict[str, dict[str, Any]] = {
    "sync_response_seconds": {"type": "integer", "minimum": SYNC_MIN, "maximum": SYNC_MAX},
    "result_ttl_hours": {"type": "integer", "minimum": 1, "maximum": 720},
    "upload_limit_mb": {"type": "integer", "minimum": 1, "maximum": HARD_UPLOAD_CAP_MB},
    "concurrency_per_slot": {"type": "integer", "minimum": 1, "maximum": 1000},
    "concurrency_per_provider": {"type": "integer", "minimum": 1, "maximum": 1000},
    "ingest_hash_mode": {"type": "string", "enum": ["log_only", "strict"]},
    # Pillow's own bomb guard stops at ~179 MP; a photobooth's camera makes at most ~60.
    "max_photo_megapixels": {"type": "integer", "minimum": 1, "maximum": 179},
    "circuit_failure_threshold": {"type": "integer", "minimum": 1, "maximum": 100},
    "circuit_cooldown_seconds": {"type": "integer", "minimum": 1, "maximum": 3600},
    # Input photos are guests' faces: deleted once the result is stored unless kept (hours).
    "keep_input_hours": {"type": "integer", "minimum": 0, "maximum": 720},
    "keep_failed_input_hours": {"type": "integer", "minimum": 0, "maximum": 720},
}
#: bcrypt looks at 72 bytes at most; longer passwords would silently be truncated.
PASSWORD_SCHEMA = {"type": "string", "minLength": MIN_INGEST_PASSWORD, "maxLength": 72}


def keyed_providers(drivers: Mapping[str, ProviderDriver]) -> list[str]:
    return sorted(name for name, d in drivers.items() if d.needs_api_key)


def settings_view(settings: RuntimeSettings, drivers: Mapping[str, ProviderDriver]) -> dict[str, Any]:
    """The brief's ``GET /api/settings`` shape plus the other runtime knobs."""
    out: dict[str, Any] = {name: getattr(settings, name) for name in EDITABLE}
    out.update(
        {
            "ingest_password_set": bool(settings.ingest_password_hash),
            "ingest_password_rotated_at": iso_z(settings.ingest_password_rotated_at),
            "ingest_password_rotated_by": settings.ingest_password_rotated_by,
            "provider_keys": {name: key_status(name) for name in keyed_providers(drivers)},
        }
    )
    return out


def update_schema(drivers: Mapping[str, ProviderDriver]) -> dict[str, Any]:
    key_schema = {"type": ["string", "null"], "maxLength": 500}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **EDITABLE,
            "ingest_password": PASSWORD_SCHEMA,
            "provider_keys": {
                "type": "object",
                "additionalProperties": False,
                "properties": {name: key_schema for name in keyed_providers(drivers)},
            },
        },
    }


def update_settings(body: Mapping[str, Any], drivers: Mapping[str, ProviderDriver], admin: str) -> list[str]:
    """Validate and apply a PUT body; returns the changed names. Caller commits."""
    check(update_schema(drivers), body)
    changed = []
    for name in EDITABLE:
        if name in body:
            save_setting(name, body[name], admin)
            changed.append(name)
    if "ingest_password" in body:
        save_setting("ingest_password_hash", hash_password(body["ingest_password"]), admin)
        changed.append("ingest_password")
    for provider, key in (body.get("provider_keys") or {}).items():
        save_api_key(provider, (key or "").strip() or None, admin)
        changed.append(f"provider_keys.{provider}")
    return changed
