"""Prometheus metrics: ``/metrics`` wiring and the ingest instrumentation.

Under gunicorn every worker is a separate process, so the counters live in
``prometheus_client``'s multiprocess mode: each worker writes its values to
memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR`` and a scrape of any worker
sums them all. ``gunicorn.conf.py`` creates and wipes that folder when the
master starts and marks dead workers. Without the variable (the test client,
``flask`` commands) the metrics are plain in-process values.
"""

from __future__ import annotations

import functools
import hmac
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import func, select

from photochanger.infra.multiproc import MULTIPROC_ENV

_EXT_KEY = "photochanger.metrics"
_SLOT_RE = re.compile(r"^slot-\d{3}$")
#: Seconds a computed media-bytes figure is reused: a scrape stays one cheap query a minute.
MEDIA_BYTES_TTL = 60.0

# Deadlines are 10–60 s: buckets resolve both quick local frames and slow AI calls.
_DURATION_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90)

# Metrics are created once per process and registered in no global registry
# (``registry=None``): each app exports them through its own registry, so
# creating several apps in one process (tests) never collides.
INGEST_DURATION = Histogram(
    "photochanger_ingest_duration_seconds",
    "Time from a request's arrival to its processed answer, by slot, provider and outcome",
    ["slot", "provider", "outcome"],
    buckets=_DURATION_BUCKETS,
    registry=None,
)
INGEST_JOBS = Counter(
    "photochanger_ingest_jobs_total",
    "Finished ingest jobs by slot, provider, outcome (done, timeout, failed) and failure_reason",
    ["slot", "provider", "outcome", "failure_reason"],
    registry=None,
)
INGEST_RESPONSES = Counter(
    "photochanger_ingest_responses_total",
    "Ingest answers by slot and HTTP status (504 = deadline ran out)",
    ["slot", "status"],
    registry=None,
)
INGEST_TIMEOUTS = Counter(
    "photochanger_ingest_timeouts_total",
    "Ingest answers 504: the deadline ran out (share = this / photochanger_ingest_responses_total)",
    ["slot"],
    registry=None,
)
INGEST_IN_FLIGHT = Gauge(
    "photochanger_ingest_in_flight",
    "Ingest requests being processed right now (summed over live workers)",
    multiprocess_mode="livesum",
    registry=None,
)
PROVIDER_CALL = Histogram(
    "photochanger_provider_call_seconds",
    "Duration of one provider attempt, by provider and outcome (ok or failure_reason)",
    ["provider", "outcome"],
    buckets=_DURATION_BUCKETS,
    registry=None,
)
PROVIDER_FAILURES = Counter(
    "photochanger_provider_failures_total",
    "Failed provider attempts by provider and failure_reason",
    ["provider", "failure_reason"],
    registry=None,
)
PROVIDER_RETRIES = Counter(
    "photochanger_provider_retries_total",
    "Provider calls retried inside the deadline, by provider and failure_reason",
    ["provider", "failure_reason"],
    registry=None,
)
EARLY_SHRINK = Counter(
    "photochanger_early_shrink_total",
    "Photos shrunk for the provider while still uploading, by outcome: used, as_is (small "
    "enough), failed, unused (request ended first), busy (no free thread)",
    ["outcome"],
    registry=None,
)
MEDIA_BYTES = Gauge(
    "photochanger_media_bytes",
    "Bytes of live (not yet cleaned) media on disk by kind, from media_object sizes",
    ["kind"],
    multiprocess_mode="mostrecent",
    registry=None,
)
# Free space of the disk under MEDIA_ROOT, read at every scrape (one statvfs):
# the alert rules need no node_exporter to see the media disk filling.
MEDIA_DISK_FREE = Gauge(
    "photochanger_media_disk_free_bytes",
    "Bytes the app may still write on the filesystem holding MEDIA_ROOT",
    multiprocess_mode="mostrecent",
    registry=None,
)
MEDIA_DISK_SIZE = Gauge(
    "photochanger_media_disk_size_bytes",
    "Size in bytes of the filesystem holding MEDIA_ROOT",
    multiprocess_mode="mostrecent",
    registry=None,
)
# Set by photochanger.infra.redis_link on every change and checked at every scrape.
REDIS_UP = Gauge(
    "photochanger_redis_up",
    "1 while the shared Redis (REDIS_URL, host:port/db as target) answers, 0 while host-local "
    "limits stand in; absent without REDIS_URL",
    ["target"],
    multiprocess_mode="mostrecent",
    registry=None,
)
#: Where the app keeps its Redis link (photochanger.infra.redis_link.RedisLink), if any.
REDIS_EXT_KEY = "photochanger.redis"
# Set from the shared circuit store at every scrape, so any worker reports what all see.
PROVIDER_CIRCUIT_OPEN = Gauge(
    "photochanger_provider_circuit_open",
    "1 while a provider's circuit is open (calls refused at once), 0 when closed or half-open",
    ["provider"],
    multiprocess_mode="mostrecent",
    registry=None,
)

_OWN_METRICS = (
    INGEST_DURATION,
    INGEST_JOBS,
    INGEST_RESPONSES,
    INGEST_TIMEOUTS,
    INGEST_IN_FLIGHT,
    PROVIDER_CALL,
    PROVIDER_FAILURES,
    PROVIDER_RETRIES,
    EARLY_SHRINK,
    MEDIA_BYTES,
    MEDIA_DISK_FREE,
    MEDIA_DISK_SIZE,
    REDIS_UP,
    PROVIDER_CIRCUIT_OPEN,
)


# -- instrumentation (called by the ingest service) ----------------------------


def ingest_finished(
    slot: str, provider: str, outcome: str, failure_reason: str | None, duration_s: float
) -> None:
    """A job ended: duration and outcome; also noted for the request's access log line."""
    INGEST_DURATION.labels(slot, provider, outcome).observe(duration_s)
    INGEST_JOBS.labels(slot, provider, outcome, failure_reason or "").inc()
    if has_request_context():
        g.log_provider = provider
        g.log_outcome = outcome


def provider_attempt(provider: str, failure_reason: str | None, duration_s: float) -> None:
    """One provider attempt ended (``failure_reason`` ``None`` on success)."""
    PROVIDER_CALL.labels(provider, failure_reason or "ok").observe(duration_s)
    if failure_reason:
        PROVIDER_FAILURES.labels(provider, failure_reason).inc()


def provider_retry(provider: str, failure_reason: str) -> None:
    PROVIDER_RETRIES.labels(provider, failure_reason).inc()


def circuit_open(provider: str, is_open: bool) -> None:
    PROVIDER_CIRCUIT_OPEN.labels(provider).set(1 if is_open else 0)


def on_scrape(app: Flask, hook: Callable[[], None]) -> None:
    """Run ``hook`` before every ``/metrics`` answer (for figures kept by higher layers)."""
    app.extensions[_EXT_KEY]["hooks"].append(hook)


def early_shrink(outcome: str) -> None:
    """How a request's head start on shrinking its photo ended (see ``ingest.early_shrink``)."""
    EARLY_SHRINK.labels(outcome).inc()


def slot_label(slot_id: str | None) -> str:
    """The slot as a label; anything not shaped like a slot id collapses to one value.

    The id comes from the URL: unbounded values would blow up the series count.
    """
    return slot_id if slot_id and _SLOT_RE.match(slot_id) else "other"


# -- app wiring ------------------------------------------------------------------


def init_metrics(app: Flask) -> None:
    """Register ``/metrics`` (optionally behind ``METRICS_TOKEN``) and the request hooks."""
    from prometheus_flask_exporter import PrometheusMetrics
    from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

    multiproc = os.environ.get(MULTIPROC_ENV)
    common: dict[str, Any] = {
        "group_by": "url_rule",  # by route, not by path: job ids would explode the series
        "metrics_decorator": _guarded_endpoint,
        "excluded_paths": ["^/static/", "^/metrics$"],
        "defaults_prefix": "photochanger",
    }
    exporter: PrometheusMetrics
    if multiproc and os.path.isdir(multiproc):
        exporter = GunicornInternalPrometheusMetrics(app, path="/metrics", **common)
    else:
        registry = CollectorRegistry(auto_describe=True)
        for metric in _OWN_METRICS:
            registry.register(metric)
        exporter = PrometheusMetrics(app, path="/metrics", registry=registry, **common)
    app.extensions[_EXT_KEY] = {"exporter": exporter, "media": _MediaBytesCache(), "hooks": []}

    app.before_request(_before_request)
    app.after_request(_after_request)
    app.teardown_request(_teardown_request)


def _guarded_endpoint(view: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps the exporter's view: bearer token check, then a fresh media-bytes figure."""

    @functools.wraps(view)
    def metrics_view(*args: Any, **kwargs: Any) -> Any:
        token = current_app.config.get("METRICS_TOKEN")
        if token:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                from photochanger.errors import ApiError

                resp = ApiError("unauthorized", "Нужен токен доступа к метрикам").to_response()
                resp.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
                return resp
        current_app.extensions[_EXT_KEY]["media"].refresh()
        _refresh_media_disk(current_app.config["MEDIA_ROOT"])
        link = current_app.extensions.get(REDIS_EXT_KEY)
        if link is not None and link.configured:
            link.check()  # sets REDIS_UP from a fresh ping
        for hook in current_app.extensions[_EXT_KEY]["hooks"]:
            hook()
        return view(*args, **kwargs)

    return metrics_view


def _refresh_media_disk(media_root: str) -> None:
    try:
        usage = shutil.disk_usage(media_root)
    except OSError:
        return  # no media folder yet: /healthz reports it, the series keeps its last value
    MEDIA_DISK_FREE.set(usage.free)
    MEDIA_DISK_SIZE.set(usage.total)


def _is_ingest() -> bool:
    return request.endpoint == "ingest.ingest"


def _before_request() -> None:
    if _is_ingest():
        INGEST_IN_FLIGHT.inc()
        g.metrics_in_flight = True


def _after_request(response: Response) -> Response:
    if _is_ingest():
        slot = slot_label((request.view_args or {}).get("slot_id"))
        INGEST_RESPONSES.labels(slot, str(response.status_code)).inc()
        if response.status_code == 504:
            INGEST_TIMEOUTS.labels(slot).inc()
    return response


def _teardown_request(_exc: BaseException | None) -> None:
    if g.pop("metrics_in_flight", False):
        INGEST_IN_FLIGHT.dec()


class _MediaBytesCache:
    """Live media bytes by kind, summed from ``media_object`` at most once a minute per worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._at = float("-inf")

    def expire(self) -> None:
        self._at = float("-inf")

    def refresh(self) -> None:
        now = time.monotonic()
        if now - self._at < MEDIA_BYTES_TTL:
            return
        with self._lock:
            if now - self._at < MEDIA_BYTES_TTL:
                return
            from photochanger.extensions import db
            from photochanger.models import MediaKind, MediaObject

            rows = db.session.execute(
                select(MediaObject.kind, func.coalesce(func.sum(MediaObject.size_bytes), 0))
                .where(MediaObject.cleaned_at.is_(None))
                .group_by(MediaObject.kind)
            ).all()
            db.session.rollback()  # end the read transaction: nothing to keep open
            sizes = {str(kind): int(total) for kind, total in rows}
            for kind in (
                MediaKind.RESULT,
                MediaKind.INPUT,
                MediaKind.TEMPLATE,
                MediaKind.PROVIDER_MEDIA,
                MediaKind.TEMP,
                *sizes,
            ):
                MEDIA_BYTES.labels(kind).set(sizes.get(kind, 0))
            self._at = now
