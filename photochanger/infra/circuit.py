"""A circuit breaker per provider whose state every worker shares.

After ``threshold`` consecutive counted failures (network errors, 5xx) the
circuit opens for ``cooldown`` seconds and callers are refused at once. When
the cool-down ends one caller takes a probe lease (half-open); its success
closes the circuit, its failure opens it again, and the other callers keep
being refused meanwhile. Any other outcome (quota, refusal, a bad answer)
shows the host is reachable and counts as a success.

The state lives in a store that every worker of a host reads (flock-ed files
under ``LOCK_DIR``) or every host reads (Redis, when ``REDIS_URL`` is set);
a Redis that cannot be reached falls back to the host's files.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, replace
from typing import IO, Any, Protocol

from photochanger.infra.locked_file import locked_file

log = logging.getLogger("photochanger.circuit")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
#: Seconds the host's files stand in for a Redis that could not be reached, before it is asked again.
REDIS_RETRY_SECONDS = 10.0
_NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")


@dataclass(frozen=True)
class CircuitState:
    """One provider's circuit; times are UNIX seconds so every host reads them alike."""

    state: str = CLOSED
    failures: int = 0
    #: while open: when the cool-down ends
    open_until: float = 0.0
    #: while half-open: until when the probe that was let through holds its lease
    probe_until: float = 0.0

    def shown(self, now: float) -> str:
        """Open only while calls are refused: an ended cool-down is half-open."""
        if self.state == OPEN and now >= self.open_until:
            return HALF_OPEN
        return self.state

    def view(self, now: float) -> dict[str, Any]:
        """What ``/healthz`` and the dashboard show."""
        shown = self.shown(now)
        out: dict[str, Any] = {"state": shown, "failures": self.failures}
        if shown == OPEN:
            out["retry_in_s"] = round(self.open_until - now, 1)
        return out


Update = Callable[[CircuitState], CircuitState]


class CircuitStore(Protocol):
    def update(self, provider: str, change: Update) -> CircuitState: ...

    def read(self, provider: str) -> CircuitState: ...


def _decode(text: str | bytes | None) -> CircuitState:
    if not text:
        return CircuitState()
    try:
        data = json.loads(text)
        return CircuitState(**{k: data[k] for k in ("state", "failures", "open_until", "probe_until")})
    except (ValueError, KeyError, TypeError):  # cut short by a crash mid-write: start closed
        return CircuitState()


def _encode(state: CircuitState) -> str:
    return json.dumps(asdict(state), separators=(",", ":"))


class FileCircuitStore:
    """One small JSON file per provider under ``root``, changed under an exclusive ``flock``."""

    def __init__(self, root: str) -> None:
        self.root = root

    def _locked(self, provider: str, write: bool) -> AbstractContextManager[IO[str]]:
        if not _NAME_RE.match(provider):
            raise ValueError(f"bad provider name {provider!r}")
        return locked_file(self.root, f"{provider}.json", write)

    def read(self, provider: str) -> CircuitState:
        with self._locked(provider, write=False) as fh:
            return _decode(fh.read())

    def update(self, provider: str, change: Update) -> CircuitState:
        with self._locked(provider, write=True) as fh:
            before = _decode(fh.read())
            after = change(before)
            if after != before:  # a success on a closed circuit writes nothing
                fh.seek(0)
                fh.truncate()
                fh.write(_encode(after))
                fh.flush()
            return after


class RedisCircuitStore:
    """The state in one Redis key per provider, changed in a ``WATCH``/``MULTI`` transaction.

    Every host sharing the Redis sees one circuit; when Redis cannot be
    reached the host's own files (``fallback``) keep the breaker working, and
    Redis is not asked again for :data:`REDIS_RETRY_SECONDS`, so a Redis that
    is down does not add its connect timeout to every provider attempt.
    """

    def __init__(self, url: str, fallback: FileCircuitStore, prefix: str = "photochanger:circuit:") -> None:
        import redis

        self._errors = (redis.RedisError, OSError)
        self.client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.fallback = fallback
        self.prefix = prefix
        self._down_until = 0.0

    def _unreachable(self) -> None:
        log.warning("circuit.redis_unavailable", extra={"event": "circuit.redis_unavailable"})
        self._down_until = time.monotonic() + REDIS_RETRY_SECONDS

    def read(self, provider: str) -> CircuitState:
        if time.monotonic() < self._down_until:
            return self.fallback.read(provider)
        try:
            return _decode(self.client.get(self.prefix + provider))
        except self._errors:
            self._unreachable()
            return self.fallback.read(provider)

    def update(self, provider: str, change: Update) -> CircuitState:
        if time.monotonic() < self._down_until:
            return self.fallback.update(provider, change)
        key = self.prefix + provider
        result: list[CircuitState] = []

        def apply(pipe: Any) -> None:
            before = _decode(pipe.get(key))
            after = change(before)
            result[:] = [after]
            pipe.multi()
            if after != before:
                pipe.set(key, _encode(after))

        try:
            self.client.transaction(apply, key)
        except self._errors:
            self._unreachable()
            return self.fallback.update(provider, change)
        return result[0]


@dataclass(frozen=True)
class Ticket:
    """Leave to call a provider once; ``probe`` when this call decides a half-open circuit."""

    provider: str
    probe: bool


class CircuitBreaker:
    """Admits or refuses provider calls and records how they ended."""

    def __init__(
        self,
        store: CircuitStore,
        threshold: int = 3,
        cooldown: float = 30.0,
        on_change: Callable[[str, CircuitState], None] | None = None,
    ) -> None:
        self.store = store
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
        self.on_change = on_change

    def admit(self, provider: str, lease: float) -> Ticket | None:
        """A ticket for one call, or ``None`` while the circuit refuses calls.

        ``lease`` bounds how long a probe may keep others waiting (the call's
        own time budget), so a worker killed mid-probe cannot hold it forever.
        """
        now = time.time()
        state = self.store.read(provider)
        if state.state == CLOSED:
            return Ticket(provider, probe=False)
        if state.state == OPEN and now < state.open_until:
            return None
        if state.state == HALF_OPEN and now < state.probe_until:
            return None
        taken = [False]

        def take(current: CircuitState) -> CircuitState:
            if current.state == CLOSED:
                return current
            busy = (current.state == OPEN and now < current.open_until) or (
                current.state == HALF_OPEN and now < current.probe_until
            )
            if busy:
                return current
            taken[0] = True
            return replace(current, state=HALF_OPEN, probe_until=now + max(1.0, lease))

        after = self.store.update(provider, take)
        if after.state == CLOSED:
            return Ticket(provider, probe=False)
        if taken[0]:
            self._changed(provider, after)
            return Ticket(provider, probe=True)
        return None

    def succeeded(self, ticket: Ticket) -> None:
        """The host answered (even with a refusal): the failure run ends."""
        after = self.store.update(ticket.provider, lambda _s: CircuitState())
        if ticket.probe:
            self._changed(ticket.provider, after)

    def failed(self, ticket: Ticket) -> bool:
        """A counted failure (network, 5xx): open at the threshold, or at once after a probe.

        Returns whether the circuit is open now (the caller stops trying).
        """
        now = time.time()

        def count(current: CircuitState) -> CircuitState:
            failures = current.failures + 1
            trip = current.state == HALF_OPEN or failures >= self.threshold
            if current.state == OPEN or not trip:
                return replace(current, failures=failures)
            return CircuitState(state=OPEN, failures=failures, open_until=now + self.cooldown)

        after = self.store.update(ticket.provider, count)
        if after.state == OPEN:
            self._changed(ticket.provider, after)
        return after.state == OPEN

    def undecided(self, ticket: Ticket) -> None:
        """The call ended without telling (e.g. the deadline cut it): a probe frees its lease."""
        if ticket.probe:
            self.store.update(
                ticket.provider, lambda s: replace(s, probe_until=0.0) if s.state == HALF_OPEN else s
            )

    def _changed(self, provider: str, state: CircuitState) -> None:
        log.warning(
            "circuit.changed",
            extra={"event": "circuit.changed", "provider": provider, "outcome": state.state},
        )
        if self.on_change is not None:
            self.on_change(provider, state)


def build_store(lock_dir: str, redis_url: str | None) -> CircuitStore:
    """Redis when ``REDIS_URL`` is configured, else flock-ed files in ``LOCK_DIR/circuits``."""
    files = FileCircuitStore(os.path.join(lock_dir, "circuits"))
    return RedisCircuitStore(redis_url, files) if redis_url else files
