"""``GET /healthz``: database, media folders, the media store and providers, each check named.

Answers 200 when every required check passes, else 503 with the failing
checks listed. The media check also wants free space on the media disk
(``HEALTH_MIN_FREE_MB``); the storage check names the backend and, for S3,
asks for the bucket (``HeadBucket``, one attempt within a couple of seconds).
Provider probes are TCP connects to the configured base URL (for the
HTTP-service driver, to every URL its active slots configure), cached per
worker, so a load balancer polling every few seconds costs nothing.
Only providers that an active slot uses (its own or a fallback step) are required; others are listed
as ``unused``. A missing API key is reported, never a failure by itself; so is
each provider's circuit (:mod:`photochanger.infra.circuit`).
The shared Redis (``REDIS_URL``) is reported too, never a failure: without it
ingests go on under host-local limits, so the host stays in the balancer, and
``warnings`` names it.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import select, text

from photochanger.errors import quiet_rollback
from photochanger.extensions import db
from photochanger.models import Slot
from photochanger.runtime import services
from photochanger.settings.provider_keys import provider_api_key

bp = Blueprint("health", __name__)

#: Seconds a provider probe result is reused.
PROBE_TTL = 45.0
PROBE_TIMEOUT = 2.0
#: Providers that need no network and no key.
OFFLINE_PROVIDERS = frozenset({"local"})


@dataclass
class _Probe:
    ok: bool
    detail: str
    at: float


_probe_cache: dict[tuple[str, int], _Probe] = {}


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness and readiness in one answer (for nginx, Docker and Prometheus)."""
    checks: dict[str, Any] = {
        "database": _check_database(),
        "media": _check_media(),
        "storage": services().store.check(),
    }
    checks["providers"] = _check_providers(db_ok=checks["database"]["status"] == "ok")
    checks["redis"] = services().permits.link.check()
    failing = [name for name in ("database", "media", "storage") if checks[name]["status"] != "ok"]
    failing += [
        f"provider:{name}"
        for name, result in checks["providers"].items()
        if result["status"] == "fail" and result.get("required")
    ]
    warnings = ["redis"] if checks["redis"]["status"] == "degraded" else []
    body = {"status": "fail" if failing else "ok", "checks": checks, "failing": failing, "warnings": warnings}
    resp = jsonify(body)
    resp.status_code = 503 if failing else 200
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _check_database() -> dict[str, Any]:
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        quiet_rollback()
        return {"status": "fail", "detail": type(exc).__name__}
    return {"status": "ok"}


def _check_media() -> dict[str, Any]:
    """Write and remove a probe file in MEDIA_ROOT and in the lock folder; check free space.

    A probe of 0 bytes succeeds on a full disk, so the free space is checked
    against ``HEALTH_MIN_FREE_MB`` too.
    """
    folders = {"media_root": services().store.root, "lock_dir": services().lock_dir}
    problems: dict[str, Any] = {}
    for name, path in folders.items():
        try:
            os.makedirs(path, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".healthz-", dir=path)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            problems[name] = exc.strerror or type(exc).__name__
    free_mb = _free_mb(services().store.root)
    minimum = int(current_app.config["HEALTH_MIN_FREE_MB"])
    if free_mb is not None and free_mb < minimum:
        problems["free_space"] = f"{free_mb} MB free, below {minimum} MB"
    if problems:
        return {"status": "fail", "detail": problems}
    return {"status": "ok"}


def _free_mb(path: str) -> int | None:
    try:
        stat = os.statvfs(path)
    except OSError:
        return None  # the probe above already reports a missing folder
    return stat.f_bavail * stat.f_frsize // (1024 * 1024)


def _check_providers(db_ok: bool) -> dict[str, Any]:
    """Probe the providers active slots use; without the database, what is known without it."""
    # provider -> the endpoint URLs its active slots configure (for per-slot URL drivers)
    used: dict[str, set[str]] = {}
    keys: dict[str, bool] = {}
    drivers = services().drivers
    rows: list[Any] = []
    if db_ok:
        try:
            query = select(Slot.provider, Slot.settings_json, Slot.chain_json).where(Slot.is_active)
            rows = [
                (provider, settings)
                for own, own_settings, chain in db.session.execute(query)
                for provider, settings in [(own, own_settings), *_fallbacks(chain)]
            ]
            keys = {name: bool(provider_api_key(name)) for name in drivers}
            db.session.rollback()
        except Exception:  # noqa: BLE001 - the database check already reports it
            quiet_rollback()
            rows = []
    for provider, settings in rows:
        field = drivers[provider].url_setting if provider in drivers else None
        urls = used.setdefault(provider, set())
        if field and isinstance(settings, dict):
            urls.add(str(settings.get(field) or ""))
    out: dict[str, Any] = {}
    circuits = services().circuit_views()
    for name in sorted(drivers):
        required = name in used
        entry: dict[str, Any] = {"required": required}
        if name in OFFLINE_PROVIDERS:
            entry["status"] = "ok"
        else:
            if name in keys:
                entry["key_configured"] = keys[name]
            if not required:
                entry["status"] = "unused"
            else:
                urls = used[name] if drivers[name].url_setting else set()
                bases = sorted(urls) or [str(current_app.config.get(f"{name.upper()}_API_BASE") or "")]
                failed = [probe for probe in map(probe_url, bases) if not probe.ok]
                entry["status"] = "fail" if failed else "ok"
                if failed:
                    entry["detail"] = failed[0].detail
        if name in circuits:
            # Reported, never failing the check: a chain may still answer from another step.
            entry["circuit"] = circuits[name]
        out[name] = entry
    return out


def _fallbacks(chain: Any) -> list[tuple[str, Any]]:
    """The (provider, settings) of a slot's fallback steps: they are used as much as its own."""
    steps = chain.get("fallbacks") if isinstance(chain, dict) else None
    return [(str(s.get("provider")), s.get("settings")) for s in steps or [] if isinstance(s, dict)]


def probe_url(base_url: str, now: float | None = None) -> _Probe:
    """TCP connect to the host of ``base_url``, cached for :data:`PROBE_TTL` seconds."""
    now = time.monotonic() if now is None else now
    parts = urlsplit(base_url)
    if not parts.hostname:
        return _Probe(False, "base URL not set", now)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    key = (parts.hostname, port)
    cached = _probe_cache.get(key)
    if cached is not None and now - cached.at < PROBE_TTL:
        return cached
    try:
        with socket.create_connection(key, timeout=PROBE_TIMEOUT):
            result = _Probe(True, "", now)
    except OSError as exc:
        result = _Probe(False, f"{parts.hostname}:{port}: {exc.strerror or type(exc).__name__}", now)
    _probe_cache[key] = result
    return result
