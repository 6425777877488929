"""Per-app service objects (media store, provider drivers, HTTP sessions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import Flask, current_app
from requests.adapters import HTTPAdapter

from photochanger.media.s3_store import S3MediaStore, S3Settings
from photochanger.media.storage import LocalMediaStore, MediaStore
from photochanger.providers.base import ProviderDriver
from photochanger.providers.registry import build_drivers

_EXT_KEY = "photochanger"


@dataclass
class AppServices:
    store: MediaStore
    drivers: dict[str, ProviderDriver]
    lock_dir: str
    sessions: dict[str, requests.Session] = field(default_factory=dict)

    def session_for(self, provider: str) -> requests.Session:
        """One pooled ``requests.Session`` per provider, sized for a gevent worker."""
        session = self.sessions.get(provider)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=200, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self.sessions[provider] = session
        return session


def init_services(app: Flask) -> None:
    app.extensions[_EXT_KEY] = AppServices(
        store=open_store(app.config),
        drivers=build_drivers(app.config),
        lock_dir=app.config["LOCK_DIR"],
    )


def open_store(config: Mapping[str, Any]) -> MediaStore:
    """The media backend ``MEDIA_STORAGE`` names (docs/storage.md)."""
    kind = config.get("MEDIA_STORAGE") or "local"
    if kind == "local":
        return LocalMediaStore(config["MEDIA_ROOT"])
    if kind != "s3":
        raise RuntimeError(f"MEDIA_STORAGE={kind!r}: expected 'local' or 's3'")
    if not config.get("S3_BUCKET"):
        raise RuntimeError("MEDIA_STORAGE=s3 needs S3_BUCKET")
    if config.get("S3_DOWNLOADS") not in ("redirect", "accel"):
        raise RuntimeError(f"S3_DOWNLOADS={config.get('S3_DOWNLOADS')!r}: expected 'redirect' or 'accel'")
    settings = S3Settings(
        bucket=config["S3_BUCKET"],
        endpoint_url=config.get("S3_ENDPOINT_URL"),
        region=config.get("S3_REGION"),
        access_key_id=config.get("S3_ACCESS_KEY_ID"),
        secret_access_key=config.get("S3_SECRET_ACCESS_KEY"),
        addressing_style=config.get("S3_ADDRESSING_STYLE") or "path",
        presign_seconds=int(config.get("S3_PRESIGN_SECONDS") or 300),
    )
    return S3MediaStore(settings, config["MEDIA_ROOT"])


def services() -> AppServices:
    """The services of the current app."""
    svc: AppServices = current_app.extensions[_EXT_KEY]
    return svc
