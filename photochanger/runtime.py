"""Per-app service objects (media store, provider drivers, HTTP sessions)."""

from __future__ import annotations

import time
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
from photochanger.media.storage import MediaStore
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
        store=MediaStore(app.config["MEDIA_ROOT"]),
        drivers=build_drivers(app.config),
        lock_dir=app.config["LOCK_DIR"],
        permits=SharedPermits(app.config["LOCK_DIR"], link, float(app.config["REDIS_LEASE_SECONDS"])),
        circuits=build_store(app.config["LOCK_DIR"], app.config.get("REDIS_URL")),
    )


def services() -> AppServices:
    """The services of the current app."""
    svc: AppServices = current_app.extensions[_EXT_KEY]
    return svc
