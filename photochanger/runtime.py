"""Per-app service objects (media store, provider drivers, HTTP sessions)."""

from __future__ import annotations

from dataclasses import dataclass, field

import requests
from flask import Flask, current_app
from requests.adapters import HTTPAdapter

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
    link = RedisLink(app.config.get("REDIS_URL"))
    app.extensions[REDIS_EXT_KEY] = link
    app.extensions[_EXT_KEY] = AppServices(
        store=MediaStore(app.config["MEDIA_ROOT"]),
        drivers=build_drivers(app.config),
        lock_dir=app.config["LOCK_DIR"],
        permits=SharedPermits(app.config["LOCK_DIR"], link, float(app.config["REDIS_LEASE_SECONDS"])),
    )


def services() -> AppServices:
    """The services of the current app."""
    svc: AppServices = current_app.extensions[_EXT_KEY]
    return svc
