"""Per-app service objects (media store, provider drivers, HTTP sessions)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import Flask, current_app
from requests.adapters import HTTPAdapter

from photochanger.infra import metrics
from photochanger.infra.circuit import OPEN, CircuitBreaker, CircuitState, CircuitStore, build_store
from photochanger.infra.metrics import REDIS_EXT_KEY
from photochanger.infra.redis_link import RedisLink
from photochanger.infra.shared_permits import SharedPermits
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
    permits: SharedPermits
    circuits: CircuitStore
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

    def breaker(self, threshold: int, cooldown: float) -> CircuitBreaker:
        """The providers' circuit breaker with the current settings; changes reach the gauge."""
        return CircuitBreaker(self.circuits, threshold, cooldown, on_change=_gauge)

    def networked(self) -> list[str]:
        """Providers called over the network: those a circuit guards."""
        return sorted(name for name, driver in self.drivers.items() if not driver.offline)

    def circuit_views(self) -> dict[str, dict[str, Any]]:
        """Each networked provider's circuit as ``/healthz`` and the dashboard show it."""
        now = time.time()
        return {name: self.circuits.read(name).view(now) for name in self.networked()}

    def refresh_circuit_gauges(self) -> None:
        for name, view in self.circuit_views().items():
            metrics.circuit_open(name, view["state"] == OPEN)


def _gauge(provider: str, state: CircuitState) -> None:
    metrics.circuit_open(provider, state.shown(time.time()) == OPEN)


def init_services(app: Flask) -> None:
    link = RedisLink(app.config.get("REDIS_URL"))
    app.extensions[REDIS_EXT_KEY] = link
    app.extensions[_EXT_KEY] = AppServices(
        store=open_store(app.config),
        drivers=build_drivers(app.config),
        lock_dir=app.config["LOCK_DIR"],
        permits=SharedPermits(app.config["LOCK_DIR"], link, float(app.config["REDIS_LEASE_SECONDS"])),
        circuits=build_store(app.config["LOCK_DIR"], app.config.get("REDIS_URL")),
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
