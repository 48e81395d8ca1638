"""Mounts of the lab, handled without ever touching the mounted filesystem.

A FUSE mount whose daemon or whose Ceph service is gone blocks every ``stat()`` on it, and
``os.path.ismount`` is a ``stat()``. So whether something is mounted is read from
``/proc/self/mountinfo``, and unmounting uses ``umount --no-canonicalize`` (which does not
resolve the path), bounded in time, falling back to a lazy unmount.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal: \040 \011 \012 \134
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_table(text: str | None = None) -> dict[str, str]:
    """Mount point -> filesystem type, from /proc/self/mountinfo (or the given text)."""
    if text is None:
        text = Path("/proc/self/mountinfo").read_text()
    table = {}
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) >= 5 and right:
            table[_unescape(fields[4])] = right.split()[0]
    return table


def is_mounted(path: Path) -> bool:
    return str(path) in mount_table()


def mounts_under(base: Path) -> list[str]:
    """Mount points at or below ``base``, deepest first (the order to unmount them in)."""
    prefix = str(base).rstrip("/") + "/"
    found = [m for m in mount_table() if m == str(base) or m.startswith(prefix)]
    return sorted(found, key=lambda m: m.count("/"), reverse=True)


def unmount(path: Path, timeout: float = 30.0) -> str:
    """Unmount ``path``; returns "clean", "lazy" or "not mounted"."""
    if not is_mounted(path):
        return "not mounted"
    try:
        done = subprocess.run(["umount", "--no-canonicalize", str(path)], capture_output=True,
                              timeout=timeout)
        if done.returncode == 0:
            return "clean"
    except subprocess.TimeoutExpired:
        pass
    subprocess.run(["umount", "--no-canonicalize", "--lazy", str(path)], capture_output=True,
                   timeout=timeout)
    return "lazy"
