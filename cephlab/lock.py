"""One run per lab directory: an exclusive lock on ``LAB/lab.lock``.

Every pytest session that touches a lab, and every ``python -m cephlab`` command that
changes one (repair, destroy), holds the lab's lock from before its first look at the lab
until it ends. A second one fails at once, before it writes or starts anything, naming the
holder: its pid, its command line and since when (the lock file's content, a small JSON
document the holder writes). ``status`` only reads, and takes no lock.

The lock is ``flock(2)`` on the file: the kernel drops it when its holder exits, however it
exits. A lock file naming a process that no longer holds it (killed, machine rebooted) is
taken over, and :meth:`LabLock.acquire` says so.

Destroying a lab keeps the lock file while its holder runs (:func:`clear_lab_dir`), so a
lab destroyed and built again inside one run is never unlocked in between; the holder
removes the file, and the directory if nothing else is left, when it lets go.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .errors import ConfigError

LOCK_FILE = "lab.lock"

#: lab dir (resolved) -> the lock this process holds on it
_HELD: dict[Path, "LabLock"] = {}


class LabBusy(ConfigError):
    """Another run holds the lab's lock."""


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str
    since: float
    starttime: Optional[int] = None  #: the holder's /proc start time (a reused pid is not it)

    @classmethod
    def me(cls, command: Optional[str] = None) -> "Holder":
        from .procs import proc_starttime

        return cls(os.getpid(), command or own_command(), time.time(), proc_starttime(os.getpid()))

    @classmethod
    def parse(cls, text: str) -> Optional["Holder"]:
        try:
            doc = json.loads(text)
            return cls(int(doc["pid"]), str(doc["command"]), float(doc["since"]), doc.get("starttime"))
        except (ValueError, KeyError, TypeError):
            return None

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "command": self.command, "since": self.since,
                           "starttime": self.starttime}, indent=2) + "\n"

    def alive(self) -> bool:
        from .procs import proc_starttime

        start = proc_starttime(self.pid)
        return start is not None and (self.starttime is None or start == self.starttime)

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.since))
        ago = max(0, time.time() - self.since)
        return f"pid {self.pid} (`{self.command}`), since {when} ({_ago(ago)} ago)"


def own_command() -> str:
    """This process's command line, as ps shows it (shortened)."""
    try:
        raw = Path("/proc/self/cmdline").read_bytes()
        words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    except OSError:
        import sys
        words = sys.argv
    words = [Path(words[0]).name] + words[1:] if words else ["?"]
    text = " ".join(" ".join(words).split())
    return text if len(text) <= 200 else text[:197] + "..."


class LabLock:
    """The lock of one lab directory (creates the directory when it does not exist)."""

    def __init__(self, lab_dir: Path):
        self.lab_dir = Path(lab_dir).resolve()
        self.path = self.lab_dir / LOCK_FILE
        self.fd: Optional[int] = None
        self.created_dir = False  #: this lock made the lab dir (so its release removes it)
        self.emptied = False      #: the lab was destroyed under this lock
        self.holder: Optional[Holder] = None

    @property
    def held(self) -> bool:
        return self.fd is not None

    def acquire(self, command: Optional[str] = None) -> Optional[str]:
        """Take the lock or raise :class:`LabBusy` naming the holder. Returns a note when a
        lock left by a process that is gone was taken over (None otherwise)."""
        if self.held:
            return None
        if not self.lab_dir.exists():
            self.lab_dir.mkdir(parents=True)
            self.created_dir = True
        for _ in range(5):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                text = _read_fd(fd)
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                holder = Holder.parse(text)
                who = holder.describe() if holder else "a process that has not said who it is yet"
                raise LabBusy(f"the lab in {self.lab_dir} is in use by {who}; wait until it "
                              f"ends, or stop it, then run again (nothing was done)") from None
            try:  # the file may have been removed by its last holder in between: lock anew
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            left = Holder.parse(_read_fd(fd))
            self.holder = Holder.me(command)
            os.ftruncate(fd, 0)
            os.pwrite(fd, self.holder.to_json().encode(), 0)
            self.fd = fd
            _HELD[self.lab_dir] = self
            if left is None:
                return None
            state = "is not running any more" if not left.alive() else "no longer holds it"
            return (f"took over the lock of {self.lab_dir} left by {left.describe()}, "
                    f"which {state}")
        raise ConfigError(f"could not lock {self.path}: it keeps being removed and created again")

    def restore(self) -> None:
        """After the lab dir was removed under a held lock (a destroy of another target):
        lock the lab dir anew at once."""
        old = self.fd
        if old is None or self.path.exists():  # not held
            return
        self.fd = None
        _HELD.pop(self.lab_dir, None)
        self.emptied = True
        try:
            self.acquire(self.holder.command if self.holder else None)
        finally:
            os.close(old)

    def release(self) -> None:
        """Let go: the lock file goes, and with it a lab dir this lock made, or whose lab was
        destroyed, when nothing else is in it."""
        fd = self.fd
        if fd is None:  # not held
            return
        try:
            # removed while still locked: whoever opened it meanwhile finds it gone, and
            # locks a new one (see acquire)
            self.path.unlink(missing_ok=True)
            if (self.created_dir or self.emptied) and not any(self.lab_dir.iterdir()):
                self.lab_dir.rmdir()
        except OSError:
            pass
        finally:
            os.close(fd)
            self.fd = None
            _HELD.pop(self.lab_dir, None)


def held_here(lab_dir: Path) -> Optional[LabLock]:
    """The lock this process holds on ``lab_dir`` (None: it holds none)."""
    return _HELD.get(Path(lab_dir).resolve())


def clear_lab_dir(lab_dir: Path) -> None:
    """Remove a destroyed lab's directory; while this process holds its lock, the lock file
    stays (released, with the emptied directory, when the holder lets go)."""
    lab_dir = Path(lab_dir)
    lock = held_here(lab_dir)
    if lock is None:
        shutil.rmtree(lab_dir, ignore_errors=True)
        return
    lock.emptied = True
    for entry in list(lab_dir.iterdir()) if lab_dir.exists() else []:
        if entry.name == LOCK_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def only_lock_file(lab_dir: Path) -> bool:
    """A lab dir holding nothing but a lock file is an empty lab dir."""
    return [p.name for p in Path(lab_dir).iterdir()] == [LOCK_FILE]


def _read_fd(fd: int) -> str:
    try:
        return os.pread(fd, 4096, 0).decode(errors="replace")
    except OSError:
        return ""


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
