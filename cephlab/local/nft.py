"""A network partition on loopback: nftables rules that drop traffic between one lab node's
address and the other nodes' addresses, in both directions.

The rules live in one table per lab (:func:`table_name`, from the lab directory), so two labs
on this machine never touch each other's rules, and a table left by a killed run is found
and removed by the next one. The daemons connect from their own node's address (``ms bind
before connect`` in the lab's ceph.conf), so an address names a node. Clients of the lab
(the CLI, FUSE mounts, MariaDB's rbd-fuse) connect from 127.0.0.1 and are not cut off.

Packets are dropped on input, after they left the sender: a sender sees silence, as on a
cut network, not an error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional, Sequence

from ..errors import CommandError
from . import lab_slug

FAMILY = "inet"
NFT_TIMEOUT = 15


def table_name(lab_dir: Path) -> str:
    """``cephlab_<dir name>_<digest of the full path>``: readable, and one per lab dir."""
    return f"cephlab_{lab_slug(lab_dir, '_')}"


def ruleset(table: str, isolated: str, others: Sequence[str]) -> str:
    """The nft script that cuts ``isolated`` off from every address in ``others``."""
    if not others or isolated in others:
        raise ValueError(f"cannot isolate {isolated} from {list(others)}")
    peers = ", ".join(others)
    return (f"table {FAMILY} {table} {{\n"
            f"  chain input {{\n"
            f"    type filter hook input priority 0; policy accept;\n"
            f"    ip saddr {isolated} ip daddr {{ {peers} }} drop\n"
            f"    ip saddr {{ {peers} }} ip daddr {isolated} drop\n"
            f"  }}\n"
            f"}}\n")


def unavailable() -> Optional[str]:
    """Why this machine cannot partition the lab's network (None: it can)."""
    if os.geteuid() != 0:
        return "a network partition needs root (nftables rules)"
    if not shutil.which("nft"):
        return "a network partition needs nft: apt-get install nftables"
    res = _nft("list", "tables", check=False)
    if res.returncode != 0:
        return f"nft cannot list tables here: {res.stderr.strip()[:200]}"
    return None


class Partition:
    """The lab's partition table: made by :meth:`isolate`, removed by :meth:`heal`."""

    def __init__(self, lab_dir: Path):
        self.table = table_name(lab_dir)

    def present(self) -> bool:
        return present(self.table)

    def isolate(self, isolated: str, others: Sequence[str]) -> None:
        remove(self.table)  # never two sets of rules
        _nft("-f", "-", stdin=ruleset(self.table, isolated, others))

    def heal(self) -> None:
        remove(self.table)

    def rules(self) -> str:
        return _nft("list", "table", FAMILY, self.table).stdout


def present(table: str) -> bool:
    if not shutil.which("nft"):
        return False
    return _nft("list", "table", FAMILY, table, check=False).returncode == 0


def remove(table: str) -> bool:
    """Delete the table if it exists; True when there was one."""
    if not present(table):
        return False
    _nft("delete", "table", FAMILY, table)
    return True


def remove_leftover(lab_dir: Path) -> Optional[str]:
    """A partition left in place (a killed run, a failed heal) is removed; says what it did."""
    table = table_name(lab_dir)
    if remove(table):
        return f"removed the network partition left in place (nftables table {FAMILY} {table})"
    return None


def _nft(*args: str, stdin: Optional[str] = None, check: bool = True) -> subprocess.CompletedProcess:
    argv = ["nft", *args]
    try:
        res = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=NFT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise CommandError(argv, -1, "", f"timed out after {NFT_TIMEOUT}s") from None
    if check and res.returncode != 0:
        raise CommandError(argv, res.returncode, res.stdout, res.stderr)
    return res
