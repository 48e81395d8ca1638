from __future__ import annotations

import signal
import sys
from dataclasses import replace

from cephlab import procs


def test_spawn_stop_and_log(tmp_path):
    rec = procs.spawn("sleeper", [sys.executable, "-c", "import time; print('hello', flush=True); time.sleep(60)"],
                      tmp_path / "sleeper.out")
    assert procs.is_alive(rec)
    assert rec.starttime == procs.proc_starttime(rec.pid)
    assert procs.stop(rec, timeout=5) is False  # it ended on SIGTERM, no SIGKILL needed
    assert not procs.is_alive(rec)
    assert "cephlab starting sleeper" in procs.log_tail(rec.log)


def test_a_reused_pid_is_never_signalled(tmp_path):
    rec = procs.spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                      tmp_path / "s.out")
    impostor = replace(rec, starttime=rec.starttime + 1)  # same pid, another process's start time
    assert not procs.is_alive(impostor)
    procs.stop(impostor)
    procs.kill(impostor, signal.SIGKILL)
    assert procs.is_alive(rec), "stop()/kill() of a record that is not ours signalled the process"
    procs.stop(rec)


def test_assert_running_names_the_dead_daemon_with_its_log(tmp_path):
    rec = procs.spawn("crasher", [sys.executable, "-c", "import sys, time; time.sleep(0.2); "
                                  "print('fatal: bad keyring', flush=True); sys.exit(3)"],
                      tmp_path / "c.out")
    import time
    time.sleep(0.8)
    try:
        procs.assert_running([rec])
    except AssertionError as exc:
        assert "crasher" in str(exc) and str(rec.pid) in str(exc)
        assert "fatal: bad keyring" in str(exc)
    else:
        raise AssertionError("assert_running passed for a process that exited")
