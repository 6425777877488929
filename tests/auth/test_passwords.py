"""Password checks: bcrypt, cached on success, without stalling the worker."""

from __future__ import annotations

import gevent

from photochanger.auth import passwords
from photochanger.infra import background


def test_right_password_passes_and_is_remembered_wrong_one_fails():
    stored = passwords.hash_password("booth-secret", rounds=4)
    assert passwords.check_password("booth-secret", stored)
    assert passwords.check_password("booth-secret", stored)  # from the cache
    assert not passwords.check_password("booth-secret!", stored)
    assert not passwords.check_password("", stored)
    assert not passwords.check_password("booth-secret", None)
    assert not passwords.check_password("booth-secret", "not-a-bcrypt-hash")


def test_the_event_loop_keeps_turning_during_a_bcrypt_check(monkeypatch):
    """A worker's first check, or a wrong password, must not freeze the other booths."""
    monkeypatch.setattr(background, "_gevent_active", lambda: True)
    stored = passwords.hash_password("x", rounds=12)  # ~0.2-0.3 s per check, like production
    check = gevent.spawn(passwords.check_password, "wrong guess", stored)
    ticks = 0
    while not check.ready() and ticks < 500:
        gevent.sleep(0.005)
        ticks += 1
    assert check.get() is False
    assert ticks >= 10  # the loop kept turning while bcrypt ran
