"""Daemons the harness owns: started as child processes, recorded by pid, stopped by pid.

A record holds the pid *and* the process start time read from ``/proc/<pid>/stat``, so a
pid that the kernel reused for somebody else's process is never signalled. Nothing here
looks up processes by name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Optional, cast

from .errors import CommandError, DaemonExited, LabError

_CHILDREN: dict[int, subprocess.Popen] = {}
_NAMES: dict[int, str] = {}
_STARTS: dict[int, int] = {}


def run_checked(argv: list[str], timeout: float = 60) -> str:
    """Run a short command to completion and return its stdout; CommandError (with its
    output) when it fails or times out, LabError when the program does not exist."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CommandError(argv, -1, "", f"timed out after {timeout}s") from None
    except FileNotFoundError as exc:
        raise LabError(f"cannot run {argv[0]!r}: {exc}") from exc
    if proc.returncode != 0:
        raise CommandError(argv, proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


@dataclass
class DaemonRecord:
    name: str  # e.g. "osd.3", "mon.k8s-1"
    pid: int
    starttime: int  # field 22 of /proc/<pid>/stat, clock ticks since boot
    argv: list[str]
    log: str

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "DaemonRecord":
        return cls(**data)


EXEC_GRACE = 1.0  # seconds a zombie-looking process gets to finish an exec from a thread


def _stat(pid: int) -> Optional[tuple[str, int]]:
    """(state, start time) of ``pid`` from /proc, or None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    return fields[0], int(fields[19])


def proc_starttime(pid: int, grace: float = EXEC_GRACE) -> Optional[int]:
    """Start time of ``pid``, or None when there is no such (non-zombie) process.

    A daemon that re-executes itself from a thread other than its main one (ceph-mgr does
    when its set of modules changes) shows as a zombie for a moment: the kernel retires the
    old main thread before the exec finishes, and the pid and start time carry over. A
    zombie is therefore read again for up to ``grace`` seconds before it counts as gone."""
    stat = _stat(pid)
    deadline = time.monotonic() + grace
    while stat is not None and stat[0] in ("Z", "X") and time.monotonic() < deadline:
        time.sleep(0.002)
        stat = _stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return None
    return stat[1]


def is_alive(rec: DaemonRecord) -> bool:
    child = _CHILDREN.get(rec.pid)
    if child is not None:
        # Our own child is not reaped until poll() says it exited: its pid cannot be reused,
        # and waitpid answers for the whole process, whatever its threads are doing.
        return child.poll() is None and _STARTS.get(rec.pid) == rec.starttime
    return proc_starttime(rec.pid) == rec.starttime


def children() -> list[DaemonRecord]:
    """Every daemon this process started and has not seen exit (whoever recorded it)."""
    out: list[DaemonRecord] = []
    for pid, child in list(_CHILDREN.items()):
        start = _STARTS.get(pid) if child.poll() is None else None
        if start is not None:
            # every child here was started by _spawn, always with an argv list
            argv = cast("list[str]", child.args)
            out.append(DaemonRecord(name=_NAMES.get(pid, str(pid)), pid=pid, starttime=start,
                                    argv=[str(a) for a in argv], log=""))
    return out


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done (main thread only; elsewhere they are
    not delivered to Python code anyway): a daemon is never half started."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in saved:
        signal.signal(sig, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        for signum in pending[:1]:
            handler = saved[signal.Signals(signum)]
            if callable(handler):
                handler(signum, None)
            elif handler != signal.SIG_IGN:
                os.kill(os.getpid(), signum)


def spawn(name: str, argv: list[str], log: Path, env: Optional[dict] = None,
          cwd: Optional[Path] = None) -> DaemonRecord:
    """Start ``argv`` in the foreground of its own session, output appended to ``log``."""
    with _signals_deferred():
        return _spawn(name, argv, log, env, cwd)


def _spawn(name: str, argv: list[str], log: Path, env: Optional[dict],
           cwd: Optional[Path]) -> DaemonRecord:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n=== cephlab starting {name}: {' '.join(argv)}\n".encode())
        out.flush()
        try:
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the pytest run when the lab is kept
                env=env,
                cwd=cwd,
            )
        except FileNotFoundError as exc:
            raise LabError(f"cannot start {name}: {exc}") from exc
    _CHILDREN[child.pid] = child
    _NAMES[child.pid] = name
    start = None
    for _ in range(50):
        if child.poll() is not None:
            break
        start = proc_starttime(child.pid, grace=0)
        if start is not None:
            _STARTS[child.pid] = start
            break
        time.sleep(0.01)
    if start is None:
        raise DaemonExited(f"{name} exited at once (exit {child.poll()}); log tail:\n{log_tail(log)}")
    return DaemonRecord(name=name, pid=child.pid, starttime=start, argv=list(argv), log=str(log))


def stop(rec: DaemonRecord, timeout: float = 30.0) -> bool:
    """SIGTERM ``rec`` (only if it is still the process we started), wait, SIGKILL if needed.

    Returns True when the process had to be killed.
    """
    if not is_alive(rec):
        _reap(rec.pid)
        return False
    os.kill(rec.pid, signal.SIGTERM)
    if _wait_gone(rec, timeout):
        return False
    if is_alive(rec):
        os.kill(rec.pid, signal.SIGKILL)
        _wait_gone(rec, 10.0)
    return True


def kill(rec: DaemonRecord, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the daemon (fault injection). Only to the process we started."""
    if is_alive(rec):
        os.kill(rec.pid, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            _wait_gone(rec, 30.0)


def _wait_gone(rec: DaemonRecord, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(rec.pid)
        if not is_alive(rec):
            return True
        time.sleep(0.05)
    return False


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        _CHILDREN.pop(pid, None)
        _NAMES.pop(pid, None)
        _STARTS.pop(pid, None)


def log_tail(path: Path | str, lines: int = 25) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def assert_running(records: list[DaemonRecord]) -> None:
    """Raise ``DaemonExited`` naming the first recorded daemon that is gone, with its log."""
    for rec in records:
        if not is_alive(rec):
            raise DaemonExited(
                f"daemon {rec.name} (pid {rec.pid}) is not running any more; "
                f"log {rec.log}, last lines:\n{log_tail(rec.log, 15)}"
            )
