"""Which API key a provider call sends, and the encrypted keys admins save.

A key saved by an admin in the settings wins over the deployment default
from the environment (``GEMINI_API_KEY`` ...). Saved keys are encrypted at
rest (:mod:`photochanger.infra.secrets`) and never leave the server again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from flask import current_app

from photochanger.clock import iso_z, utcnow
from photochanger.extensions import db
from photochanger.infra.secrets import SecretUnreadable, decrypt, encrypt
from photochanger.models import AppSetting

log = logging.getLogger("photochanger.settings")


def setting_key(provider: str) -> str:
    return f"provider_key.{provider}"


def _ciphertext_of(value: Any) -> str | None:
    if isinstance(value, Mapping) and isinstance(value.get("ciphertext"), str):
        return str(value["ciphertext"])
    return None


def _saved_ciphertext(provider: str) -> tuple[str | None, AppSetting | None]:
    row = db.session.get(AppSetting, setting_key(provider))
    return _ciphertext_of(row.value if row is not None else None), row


def _decrypt_saved(provider: str, ciphertext: str | None) -> str | None:
    if ciphertext is None:
        return None
    try:
        return decrypt(str(current_app.config["SECRET_KEY"]), ciphertext)
    except SecretUnreadable:
        # SECRET_KEY changed since the key was saved: fall back to the env default.
        log.error(
            "saved provider key unreadable",
            extra={"event": "settings.provider_key_unreadable", "provider": provider},
        )
        return None


def saved_api_key(provider: str) -> str | None:
    """The key an admin saved, decrypted; ``None`` when none or unreadable."""
    return _decrypt_saved(provider, _saved_ciphertext(provider)[0])


def provider_api_key(provider: str, settings_values: Mapping[str, Any] | None = None) -> str | None:
    """The key for ``provider``: settings first, then the environment.

    ``settings_values`` (``RuntimeSettings.raw``, already loaded for this
    request) spares the ingest hot path a SELECT of its own.
    """
    if settings_values is None:
        saved = saved_api_key(provider)
    else:
        saved = _decrypt_saved(provider, _ciphertext_of(settings_values.get(setting_key(provider))))
    return saved or current_app.config.get(f"{provider.upper()}_API_KEY") or None


def save_api_key(provider: str, key: str | None, updated_by: str) -> None:
    """Store (encrypted) or remove (``None``/empty) an admin-set key. Caller commits."""
    row = db.session.get(AppSetting, setting_key(provider))
    value: dict[str, Any] = {}
    if key:
        value = {"ciphertext": encrypt(str(current_app.config["SECRET_KEY"]), key)}
    if row is None:
        db.session.add(
            AppSetting(key=setting_key(provider), value=value, updated_by=updated_by, updated_at=utcnow())
        )
    else:
        row.value = value
        row.version += 1
        row.updated_at = utcnow()
        row.updated_by = updated_by


def key_status(provider: str) -> dict[str, Any]:
    """``{"configured", "updated_at", "source"}`` — never the key itself."""
    ciphertext, row = _saved_ciphertext(provider)
    saved = saved_api_key(provider) if ciphertext else None
    env = bool(current_app.config.get(f"{provider.upper()}_API_KEY"))
    source = "settings" if saved else ("environment" if env else None)
    updated: dt.datetime | None = row.updated_at if row is not None else None
    status: dict[str, Any] = {
        "configured": source is not None,
        "updated_at": iso_z(updated),
        "source": source,
    }
    if ciphertext and not saved:
        status["unreadable"] = True  # saved under another SECRET_KEY: enter it again
    return status
