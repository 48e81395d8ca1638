from __future__ import annotations

import time

import pytest

from cephlab.errors import CannotHeal, DaemonExited, WaitTimeout
from cephlab.waits import after, wait_for

pytestmark = pytest.mark.unit


def test_returns_the_probe_value_once_it_holds():
    calls = []

    def probe():
        calls.append(1)
        assert len(calls) >= 3, f"only {len(calls)} calls"
        return "ready"

    assert wait_for("three calls", probe, timeout=5, interval=0.01) == "ready"
    assert len(calls) == 3


def test_timeout_names_the_wait_and_shows_the_last_observed_state():
    n = {"i": 0}

    def probe():
        n["i"] += 1
        raise AssertionError(f"osd.1 is down (attempt {n['i']})")

    with pytest.raises(WaitTimeout) as err:
        wait_for("OSDs up", probe, timeout=0.3, interval=0.05)
    msg = str(err.value)
    assert "Gave up waiting for 'OSDs up'" in msg
    assert "timeout 0.3s, polled every 0.05s" in msg
    assert f"last observed: osd.1 is down (attempt {n['i']})" in msg


def test_fail_fast_ends_the_wait_at_once():
    def gone():
        raise DaemonExited("daemon osd.2 (pid 1) is not running any more")

    start = time.monotonic()
    with pytest.raises(DaemonExited, match="osd.2"):
        wait_for("never", lambda: (_ for _ in ()).throw(AssertionError("no")), timeout=30,
                 interval=0.1, fail_fast=gone)
    assert time.monotonic() - start < 2


def test_a_cause_that_cannot_heal_ends_the_wait_naming_it_and_the_last_observed_state():
    from cephlab.diagnose import Cause, Watch

    out = Cause("osd.1", "osd.1 on k8s-2 is marked out (by hand)", "ceph osd in 1")
    watch = Watch(lambda: [out], every=0.1, confirm=0.1)
    start = time.monotonic()
    with pytest.raises(CannotHeal) as err:
        wait_for("3 OSDs up and in", lambda: checks_probe(), timeout=30, interval=0.1,
                 fail_fast=watch.check)
    assert time.monotonic() - start < 2
    msg = str(err.value)
    assert msg.startswith("osd.1 on k8s-2 is marked out (by hand); next: ceph osd in 1")
    assert "the wait '3 OSDs up and in' gave up after" in msg
    assert "last observed: osd.1 is up and out" in msg


def checks_probe():
    raise AssertionError("osd.1 is up and out")


def test_unexpected_errors_are_not_retried():
    calls = []

    def probe():
        calls.append(1)
        raise KeyError("bug in the probe")

    with pytest.raises(KeyError):
        wait_for("buggy", probe, timeout=5, interval=0.01)
    assert len(calls) == 1


def test_a_held_back_fail_fast_lets_the_wait_look_again_first():
    """waits.after: the check does not run until the time has passed since the first call,
    then runs on every call (verify mode's grace before a known cause ends a wait)."""
    now = [100.0]
    calls = []
    held = after(5.0, lambda: calls.append(now[0]), clock=lambda: now[0])
    for t in (100.0, 102.0, 104.9):
        now[0] = t
        held()
    assert calls == []
    for t in (105.0, 107.0):
        now[0] = t
        held()
    assert calls == [105.0, 107.0]


def test_a_cause_that_shows_only_after_the_grace_still_ends_the_wait():
    """A probe that never holds ends at once the grace is over, not at the timeout."""
    def probe():
        raise AssertionError("osd.1 is out")

    def cause():
        raise CannotHeal("osd.1 on k8s-2 is marked out")

    start = time.monotonic()
    with pytest.raises(CannotHeal, match="marked out"):
        wait_for("held back", probe, timeout=30, interval=0.05, fail_fast=after(0.3, cause))
    assert 0.3 <= time.monotonic() - start < 5
