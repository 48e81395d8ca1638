from __future__ import annotations

import time

import pytest

from cephlab.errors import DaemonExited, WaitTimeout
from cephlab.waits import wait_for


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


def test_unexpected_errors_are_not_retried():
    calls = []

    def probe():
        calls.append(1)
        raise KeyError("bug in the probe")

    with pytest.raises(KeyError):
        wait_for("buggy", probe, timeout=5, interval=0.01)
    assert len(calls) == 1
