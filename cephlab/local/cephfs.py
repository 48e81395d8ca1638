"""The local lab's CephFS mounts: ceph-fuse client daemons the lab owns, each mounting the
lab's filesystem under ``<lab dir>/mnt/<name>`` and recorded as ``client.fuse-<name>``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .. import procs
from ..errors import CommandError
from ..model import FS_NAME
from ..procs import DaemonRecord
from ..waits import wait_for
from . import mounts
from .daemons import CephDaemons

#: The record name of a CephFS mount's client daemon is this, then the mount's name.
CLIENT = "client.fuse-"


def fuse_unavailable() -> Optional[str]:
    if os.geteuid() != 0:
        return "mounting CephFS with ceph-fuse needs root here"
    if not Path("/dev/fuse").exists():
        return "/dev/fuse is missing"
    return None


class CephFSMounts:
    def __init__(self, daemons: CephDaemons):
        self.daemons = daemons
        self.cfg = daemons.cfg

    def path(self, name: str) -> Path:
        return self.cfg.lab_dir / "mnt" / name

    def clients(self) -> list[DaemonRecord]:
        """The recorded mounts' client daemons, running or not."""
        return [rec for rec in self.daemons.records() if rec.name.startswith(CLIENT)]

    def status_lines(self, mounted: set[str]) -> list[str]:
        """A line per recorded mount: where, by which client, whether it is mounted now."""
        lines = []
        for rec in self.clients():
            mnt = str(self.path(rec.name[len(CLIENT):]))
            lines.append(f"mount  {mnt:<40} CephFS {FS_NAME} by {rec.name}: "
                         f"{'mounted' if mnt in mounted else 'NOT MOUNTED'}")
        return lines

    def remount_dead(self) -> list[str]:
        """Every dead client's stale mount released, then each mounted again; their names."""
        dead = [rec for rec in self.clients() if not procs.is_alive(rec)]
        for rec in dead:
            self.unmount(rec)
        for rec in dead:
            self.mount(rec.name[len(CLIENT):])
        return [rec.name for rec in dead]

    def mount(self, name: str) -> Path:
        """Mount k8s-fs with ceph-fuse under the lab dir (a client daemon the lab owns)."""
        why = fuse_unavailable()
        if why:
            raise CommandError(["ceph-fuse"], -1, "", why)
        mnt = self.path(name)
        rec_name = f"{CLIENT}{name}"
        rec = self.daemons.record(rec_name)
        if rec and procs.is_alive(rec) and mounts.is_mounted(mnt):
            return mnt
        if rec:  # its client died: release the stale mount before mounting again
            self.unmount(rec)
        mnt.mkdir(parents=True, exist_ok=True)
        # A mount before rank 0 is active fails ("probably no MDS server is up?"): right after
        # the filesystem stage, and when a stopped lab is started again (repair, resume).
        # Only Ceph's own daemons decide whether rank 0 becomes active: a client that is
        # down too (another mount, rbd-fuse, MariaDB, Ghost after a crash) is started later
        # by the same repair, and must not end this wait. After a crash the MDS waits in
        # up:reconnect for the dead clients' sessions (mds_reconnect_timeout, 45 s).
        wait_for(f"an active MDS of {FS_NAME} before mounting it", self._mds_active,
                 timeout=self.cfg.timeouts.mds, interval=0.5,
                 fail_fast=lambda: self.daemons.assert_daemons_running(self.daemons.ceph_daemons()))
        argv = ["ceph-fuse", "-f", "-c", str(self.daemons.conf), "--id", "admin",
                "--client_fs", FS_NAME, "--admin-socket", "", str(mnt)]
        rec = self.daemons.spawn_client(rec_name, argv)
        wait_for(f"CephFS mounted at {mnt}", lambda: _assert_mounted(mnt),
                 timeout=self.cfg.timeouts.daemon_start, interval=0.2,
                 fail_fast=lambda: procs.assert_running([rec]))
        return mnt

    def _mds_active(self) -> None:
        states = [m.get("state") for m in self.daemons.ceph.json("fs", "status", FS_NAME).get("mdsmap", [])]
        assert "active" in states, f"MDS states of {FS_NAME}: {states or 'none'}"

    def unmount_all(self) -> None:
        for rec in self.clients():
            self.unmount(rec)

    def unmount(self, rec: DaemonRecord) -> None:
        mnt = self.path(rec.name[len(CLIENT):])
        # A clean unmount first (ceph-fuse flushes); if CephFS does not answer, the client is
        # stopped, which fails its pending requests, and the mount is detached lazily.
        if mounts.unmount(mnt, timeout=15) != "clean":
            procs.stop(rec, timeout=10)
            mounts.unmount(mnt, timeout=15)
        procs.stop(rec, timeout=10)
        self.daemons.forget(rec.name)


def _assert_mounted(path: Path) -> None:
    assert mounts.is_mounted(path), f"{path} is not a mount point yet"
