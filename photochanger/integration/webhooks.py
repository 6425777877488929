"""Webhooks: one signed POST per finished task, retried with backoff, never on a request's path.

The body is the task's status object (as ``GET /api/v1/jobs/{id}`` answers it) with
``"event": "job.finished"``. ``X-PhotoChanger-Signature: sha256=<hex>`` is the
HMAC-SHA256, keyed by the key's webhook secret, of ``<timestamp>.<body>``, with the
timestamp in ``X-PhotoChanger-Timestamp`` (receivers refuse old ones: no replays).
A delivery is claimed by one worker with a conditional UPDATE, so it is sent once;
only a worker that dies between sending and recording could make a receiver see it
twice, with the same ``X-PhotoChanger-Delivery`` id.

Webhook URLs are the key holder's choice: unless ``WEBHOOK_ALLOW_PRIVATE`` is set, a
host that resolves to a loopback, private, link-local or reserved address is refused,
so a key cannot make the server call into its own network. Redirects are not followed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import select, update

from photochanger.auth.api_keys import webhook_secret
from photochanger.clock import utcnow
from photochanger.errors import ApiError
from photochanger.extensions import db
from photochanger.integration.tasks import task_view
from photochanger.models import ApiKey, ApiTask

log = logging.getLogger("photochanger.integration")

SIGNATURE_HEADER = "X-PhotoChanger-Signature"
TIMESTAMP_HEADER = "X-PhotoChanger-Timestamp"
DELIVERY_HEADER = "X-PhotoChanger-Delivery"
#: Pauses before the 2nd … 6th try (seconds); after the last one the delivery is ``failed``.
BACKOFF = (2.0, 8.0, 30.0, 120.0, 600.0)
#: A claimed delivery not recorded by then is claimed again (its worker died).
SENDING_LEASE = dt.timedelta(seconds=60)
TIMEOUT = (3.0, 10.0)
MAX_URL = 2000

_session = requests.Session()


def check_url(url: str) -> str:
    """400 unless ``url`` is an absolute http(s) URL of sane length."""
    try:
        parts = urlsplit(url)  # ValueError for an unclosed IPv6 bracket
        host, _port = parts.hostname, parts.port  # .port: ValueError for a port out of range
    except ValueError:
        host = None
    usable = bool(host) and parts.scheme in ("http", "https")
    if len(url) > MAX_URL or not usable:
        raise ApiError(
            "bad_request",
            f"Поле «webhook_url»: нужен адрес http(s) не длиннее {MAX_URL} символов",
            extra={"field": "webhook_url"},
        )
    return url


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The value of ``X-PhotoChanger-Signature`` for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def claim_due(limit: int) -> list[str]:
    """Up to ``limit`` deliveries due now, each now this worker's to send; committed."""
    now = utcnow()
    due = (
        select(ApiTask.id)
        .where(ApiTask.webhook_state.in_(("pending", "sending")), ApiTask.webhook_next_at <= now)
        .order_by(ApiTask.webhook_next_at)
        .limit(limit)
    )
    mine = []
    for task_id in db.session.execute(due).scalars().all():
        taken = db.session.execute(
            update(ApiTask)
            .where(
                ApiTask.id == task_id,
                ApiTask.webhook_state.in_(("pending", "sending")),
                ApiTask.webhook_next_at <= now,
            )
            .values(webhook_state="sending", webhook_next_at=now + SENDING_LEASE)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            mine.append(task_id)
    db.session.commit()
    return mine


def deliver(task_id: str, allow_private: bool) -> bool:
    """Send one claimed delivery and record the outcome; ``True`` when the receiver took it."""
    task = db.session.get(ApiTask, task_id)
    # An admin's task has no key, so no secret to sign with (and no webhook_url).
    key = db.session.get(ApiKey, task.key_id) if task is not None and task.key_id else None
    if task is None or key is None or not task.webhook_url:
        return False
    body = json.dumps(
        {"event": "job.finished", **task_view(task, task.base_url)}, ensure_ascii=False
    ).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "PhotoChanger-Webhook/1",
        TIMESTAMP_HEADER: timestamp,
        DELIVERY_HEADER: task.id,
        SIGNATURE_HEADER: sign(webhook_secret(key), timestamp, body),
    }
    url = task.webhook_url
    db.session.rollback()  # no transaction held while the receiver answers
    problem = None if allow_private else _private_address(url)
    if problem is not None:
        _record(task_id, delivered=False, final=True, detail=problem)
        return False
    try:
        resp = _session.post(url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
        ok, detail = 200 <= resp.status_code < 300, f"HTTP {resp.status_code}"
        resp.close()
    except requests.RequestException as exc:
        ok, detail = False, type(exc).__name__
    _record(task_id, delivered=ok, final=False, detail=detail)
    return ok


def _record(task_id: str, *, delivered: bool, final: bool, detail: str) -> None:
    task = db.session.get(ApiTask, task_id)
    if task is None:
        return
    tries = task.webhook_attempts + 1
    values: dict[str, Any] = {"webhook_attempts": tries}
    if delivered:
        values.update(webhook_state="delivered", webhook_next_at=None)
    elif final or tries > len(BACKOFF):
        values.update(webhook_state="failed", webhook_next_at=None)
    else:
        values.update(
            webhook_state="pending", webhook_next_at=utcnow() + dt.timedelta(seconds=BACKOFF[tries - 1])
        )
    db.session.execute(update(ApiTask).where(ApiTask.id == task_id).values(**values))
    db.session.commit()
    event = "webhook.delivered" if delivered else "webhook.failed"
    log.info(event, extra={"event": event, "task_id": task_id, "attempt": tries, "detail": detail[:200]})


def _private_address(url: str) -> str | None:
    """Why ``url``'s host may not be called (it resolves into a private network), or ``None``."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return None  # unresolvable now: the POST fails and is retried
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return f"address {address} is not public"
    return None
