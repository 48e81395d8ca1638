from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import replace

from cephlab import procs
import pytest  # noqa: E402

pytestmark = pytest.mark.standin


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


# A program that re-executes itself from a second thread, as ceph-mgr does when its set of
# modules changes: while the kernel retires the old main thread, /proc shows a zombie.
_REEXEC = """
import os, sys, threading, time
left = int(sys.argv[1])
if left <= 0:
    time.sleep(60)
for _ in range(4):
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
def again():
    time.sleep(0.01)
    os.execv(sys.executable, [sys.executable, "-S", __file__, str(left - 1)])
threading.Thread(target=again).start()
time.sleep(60)
"""


def _misses(pid: int, start: int, seconds: float, grace: float) -> tuple[int, int]:
    polls = misses = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        polls += 1
        misses += procs.proc_starttime(pid, grace=grace) != start
    return polls, misses


def test_a_daemon_that_re_executes_itself_from_a_thread_stays_alive(tmp_path):
    """Seen by another process (no Popen to ask), a daemon mid-exec is never taken for
    dead; without the grace the same reading does take it for dead (the test can go red)."""
    script = tmp_path / "reexec.py"
    script.write_text(_REEXEC)
    for grace, want_misses in ((0.0, True), (procs.EXEC_GRACE, False)):
        child = subprocess.Popen([sys.executable, "-S", str(script), "150"])
        try:
            time.sleep(0.05)
            start = procs.proc_starttime(child.pid)
            assert start is not None
            record = procs.DaemonRecord("mgr.reexec", child.pid, start, [], "")
            polls, misses = _misses(child.pid, start, 2.5, grace)
            assert child.poll() is None, "the re-executing program died by itself"
            if want_misses:
                assert misses > 0, f"{polls} readings without grace never saw the exec (a zombie)"
            else:
                assert misses == 0, f"{misses} of {polls} readings took the daemon for dead"
                assert procs.is_alive(record)
        finally:
            child.kill()
            child.wait(timeout=10)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert procs.proc_starttime(dead.pid) is None
