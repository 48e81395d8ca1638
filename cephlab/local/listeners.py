"""Who listens where: TCP listeners from ``/proc/net/tcp``, each with the process that holds
it and, when that process belongs to a lab of this harness, the lab's directory.

Used by the local target's port checks, so that "port busy" names what holds the port (the
pid, its command line, the other lab) and an address another lab uses is refused before any
work. Read-only: nothing here signals or changes a process.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from ..state import STATE_FILE

#: The monitors' ports: msgr2, msgr1.
MON_PORTS = (3300, 6789)
LISTEN = "0A"
ANY = "0.0.0.0"


@dataclass(frozen=True)
class Listener:
    ip: str
    port: int
    inode: int
    pid: Optional[int] = None
    command: str = ""
    lab_dir: Optional[Path] = None

    def describe(self) -> str:
        if self.pid is None:
            return "a listener whose process this user cannot see"
        text = f"pid {self.pid} (`{self.command}`)"
        if self.lab_dir is not None:
            text += f", a daemon of the lab in {self.lab_dir}"
        return text


def listeners(table: str = "/proc/net/tcp") -> list[Listener]:
    """Every listening IPv4 TCP socket (address, port, socket inode)."""
    out: list[Listener] = []
    try:
        lines = Path(table).read_text().splitlines()[1:]
    except OSError:
        return out
    for line in lines:
        fields = line.split()
        if len(fields) < 10 or fields[3] != LISTEN:
            continue
        addr, port = fields[1].split(":")
        ip = socket.inet_ntoa(struct.pack("<I", int(addr, 16)))
        out.append(Listener(ip, int(port, 16), int(fields[9])))
    return out


def on(ips: Iterable[str], ports: Optional[Iterable[int]] = None) -> list[Listener]:
    """Listeners on any of ``ips`` (or on every address, for ``ports``), with their holders."""
    ips, ports = set(ips), set(ports or ())
    found = [ln for ln in listeners()
             if ln.ip in ips or (ln.ip == ANY and ln.port in ports)]
    return _with_holders(found) if found else []


def holder(ip: str, port: int) -> Optional[Listener]:
    """What listens on ``ip:port`` (or on every address at ``port``), if anything."""
    return next((ln for ln in on([ip], [port]) if ln.port == port), None)


def _with_holders(found: list[Listener]) -> list[Listener]:
    wanted = {f"socket:[{ln.inode}]": ln for ln in found}
    owner: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                try:
                    link = os.readlink(fd)
                except OSError:
                    continue
                if link in wanted:
                    owner.setdefault(wanted[link].inode, int(proc.name))
        except OSError:  # gone, or not ours to look at
            continue
    out = []
    for ln in found:
        pid = owner.get(ln.inode)
        if pid is None:
            out.append(ln)
            continue
        argv = _cmdline(pid)
        out.append(Listener(ln.ip, ln.port, ln.inode, pid, _short(argv), lab_of(argv)))
    return out


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [w.decode(errors="replace") for w in raw.split(b"\0") if w]


def _short(argv: list[str]) -> str:
    words = [Path(argv[0]).name, *argv[1:]] if argv else ["?"]
    text = " ".join(" ".join(words).split())
    return text if len(text) <= 160 else text[:157] + "..."


def lab_of(argv: list[str]) -> Optional[Path]:
    """The lab dir a process belongs to: the nearest directory holding a lab state file
    above a path on its command line (``-c LAB/ceph.conf``, ``--datadir=LAB/…``)."""
    for word in argv:
        for part in word.split("="):
            if not part.startswith("/"):
                continue
            for parent in Path(part).parents:
                if parent == Path("/"):
                    break
                if (parent / STATE_FILE).is_file():
                    return parent
    return None


def port_problem(ip: str, port: int) -> Optional[str]:
    """None when ``ip:port`` can be bound now, else why not."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A socket left in TIME_WAIT by an earlier lab is no conflict; a listener is.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((ip, port))
    except OSError as exc:
        problem = exc.strerror or str(exc)
    else:
        return None
    finally:
        sock.close()
    held = holder(ip, port)
    return f"{problem}, held by {held.describe()}" if held else problem
