"""The provider circuit breaker over its two shared stores: flock-ed files and Redis."""

from __future__ import annotations

import time
import uuid

import pytest

from photochanger.infra.circuit import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    CircuitBreaker,
    CircuitStore,
    FileCircuitStore,
    RedisCircuitStore,
    Ticket,
)
from tests.support.net import free_port

COOLDOWN = 0.3


@pytest.fixture(params=["files", "redis"])
def stores(request, tmp_path, redis_server) -> tuple[CircuitStore, CircuitStore]:
    """Two stores over one shared state, as two workers (or two hosts) hold them."""
    if request.param == "files":
        return FileCircuitStore(str(tmp_path)), FileCircuitStore(str(tmp_path))
    prefix = f"test-{uuid.uuid4().hex}:"
    return tuple(  # type: ignore[return-value]
        RedisCircuitStore(redis_server.url, FileCircuitStore(str(tmp_path / f"own-{i}")), prefix)
        for i in (1, 2)
    )


def breakers(stores: tuple[CircuitStore, CircuitStore]) -> tuple[CircuitBreaker, CircuitBreaker]:
    return CircuitBreaker(stores[0], 3, COOLDOWN), CircuitBreaker(stores[1], 3, COOLDOWN)


def fail(breaker: CircuitBreaker, n: int = 1) -> bool:
    opened = False
    for _ in range(n):
        ticket = breaker.admit("gemini", 10)
        assert ticket is not None
        opened = breaker.failed(ticket)
    return opened


def test_three_failures_in_a_row_from_two_workers_open_the_circuit_for_both(stores):
    a, b = breakers(stores)
    assert not fail(a, 2)
    assert fail(b)  # the third in a row, counted from the other worker
    assert a.admit("gemini", 10) is None
    assert b.admit("gemini", 10) is None
    assert stores[0].read("gemini").state == OPEN
    assert a.admit("fal", 10) is not None  # one circuit per provider


def test_a_success_between_failures_starts_the_count_again(stores):
    a, b = breakers(stores)
    fail(a, 2)
    ticket = b.admit("gemini", 10)
    assert ticket is not None
    b.succeeded(ticket)
    assert not fail(a, 2)
    assert a.admit("gemini", 10) is not None


def cooled_down(stores: tuple[CircuitStore, CircuitStore]) -> tuple[CircuitBreaker, CircuitBreaker, Ticket]:
    """Two workers' breakers after the circuit opened and cooled down, and the first one's probe."""
    a, b = breakers(stores)
    fail(a, 3)
    time.sleep(COOLDOWN + 0.05)
    assert stores[0].read("gemini").shown(time.time()) == HALF_OPEN
    probe = a.admit("gemini", 10)
    assert probe is not None and probe.probe
    return a, b, probe


def test_after_the_cool_down_one_probe_passes_and_its_success_closes(stores):
    a, b, probe = cooled_down(stores)
    assert b.admit("gemini", 10) is None  # the others wait for the probe's answer
    a.succeeded(probe)
    assert stores[1].read("gemini").state == CLOSED
    ticket = b.admit("gemini", 10)
    assert ticket is not None and not ticket.probe


def test_a_failed_probe_opens_the_circuit_again_at_once(stores):
    a, b, probe = cooled_down(stores)
    assert a.failed(probe)
    assert b.admit("gemini", 10) is None
    assert stores[0].read("gemini").view(time.time())["state"] == OPEN


def test_a_probe_that_ends_undecided_or_dies_lets_the_next_caller_probe(stores):
    a, b, probe = cooled_down(stores)
    a.undecided(probe)  # e.g. the deadline cut the call
    second = b.admit("gemini", 0.2)  # a lease of at least a second, whatever the budget
    assert second is not None and second.probe
    assert a.admit("gemini", 10) is None


def test_an_unreachable_redis_falls_back_to_the_hosts_files_and_is_not_asked_each_time(tmp_path):
    files = FileCircuitStore(str(tmp_path))
    store = RedisCircuitStore(f"redis://127.0.0.1:{free_port()}/0", files)
    breaker = CircuitBreaker(store, 2, 30)
    fail(breaker, 2)
    assert breaker.admit("gemini", 10) is None
    assert files.read("gemini").state == OPEN
    assert store._down_until > time.monotonic()  # the files answer without a connect attempt meanwhile


def test_a_damaged_state_file_reads_as_a_closed_circuit(tmp_path):
    store = FileCircuitStore(str(tmp_path))
    store.read("gemini")
    (tmp_path / "gemini.json").write_text('{"state": "op')
    assert store.read("gemini").state == CLOSED
    with pytest.raises(ValueError):
        store.read("../etc")
