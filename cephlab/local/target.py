"""The local target: the lab's Ceph stages on a real Ceph cluster on this machine."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

from .. import checks, procs
from ..ceph import CephRunner
from ..errors import CommandError
from ..stages import Stage
from ..targets import Target
from ..waits import wait_for
from .cluster import LocalCluster

from ..model import BLOCK_POOL, FS_DATA, FS_METADATA, FS_NAME, PG_NUM_TARGET, REMOVED_NODE

POOL_INITIAL_PG_NUM = 32  # a power of two: HEALTH_OK until the pg_num stage sets 150
OSD_RULE = "replicated_osd"  # the lab's CephFS data pool has failure domain osd
MDS_NODES = ("k8s-2", "k8s-3")  # active + standby-replay on two nodes, as Rook spreads them


class LocalTarget(Target):
    name = "local"
    #: Each has a method ``_<slug>`` below that does the stage's work.
    supported = frozenset({"ceph_cluster", "block_pool", "shared_filesystem", "extend_storage",
                           "toolbox", "pg_num", "remove_node"})

    def __init__(self, cfg, state):
        super().__init__(cfg, state)
        self.cluster = LocalCluster(cfg, state)

    # ----------------------------------------------------------------- Target API
    def sanity_checks(self) -> None:
        self.cluster.preflight()

    @classmethod
    def skip_reason(cls, stage: Stage) -> Optional[str]:
        if stage.kubernetes:
            return (f"stage {stage.slug} needs Kubernetes; the local target has none "
                    f"(run it with --lab-target=vagrant or --lab-target=cluster)")
        if stage.slug not in cls.supported:
            return f"stage {stage.slug} is not built on the local target in this version"
        return None

    @property
    def ceph(self) -> CephRunner:
        return self.cluster.ceph

    def resume(self) -> list[str]:
        if not self.state.doc["daemons"]:
            return []
        return self.cluster.restart_missing()

    def apply(self, stage: Stage) -> None:
        getattr(self, f"_{stage.slug}")()

    def describe(self) -> str:
        return (f"local Ceph cluster in {self.cfg.lab_dir} (nodes "
                f"{', '.join(f'{n}={self.cfg.node_ip(n)}' for n in self.cfg.nodes)}); "
                f"toolbox: ceph -c {self.cluster.conf} status")

    def fail_fast(self) -> None:
        self.cluster.assert_daemons_running()

    def diagnostics(self) -> str:
        parts = []
        if self.cluster.conf.exists():
            for args in (("status",), ("health", "detail"), ("osd", "tree"), ("fs", "status")):
                res = self.ceph.run(*args, check=False, timeout=15)
                parts.append(f"$ ceph {' '.join(args)}  (exit {res.rc})\n"
                             f"{(res.stdout or res.stderr).strip()}")
        for rec in self.cluster.records():
            alive = procs.is_alive(rec)
            if not alive:
                parts.append(f"daemon {rec.name} (pid {rec.pid}) is NOT running; last lines of "
                             f"{rec.log}:\n{procs.log_tail(rec.log, 20)}")
        running = [r.name for r in self.cluster.records() if procs.is_alive(r)]
        parts.append(f"daemons running: {', '.join(running) or 'none'}")
        return "\n\n".join(parts)

    def destroy(self) -> list[str]:
        self.unmount_all()
        killed = self.cluster.stop_all()
        shutil.rmtree(self.cfg.lab_dir, ignore_errors=True)
        return killed

    # ----------------------------------------------------------------- stages
    def _ceph_cluster(self) -> None:
        self.cluster.bootstrap()
        self.cluster.add_osds([(node, "sdc") for node in self.cfg.nodes])
        self.cluster.wait_mgr()

    def _block_pool(self) -> None:
        ceph = self.ceph
        ceph.run("osd", "pool", "create", BLOCK_POOL, str(POOL_INITIAL_PG_NUM),
                 str(POOL_INITIAL_PG_NUM), "replicated")
        ceph.run("osd", "pool", "set", BLOCK_POOL, "size", "2")
        ceph.run("pool", "init", BLOCK_POOL, tool="rbd")

    def _shared_filesystem(self) -> None:
        ceph = self.ceph
        ceph.run("osd", "crush", "rule", "create-replicated", OSD_RULE, "default", "osd")
        ceph.run("osd", "pool", "create", FS_METADATA, "16", "16", "replicated")
        ceph.run("osd", "pool", "create", FS_DATA, str(POOL_INITIAL_PG_NUM),
                 str(POOL_INITIAL_PG_NUM), "replicated", OSD_RULE)
        for pool in (FS_METADATA, FS_DATA):
            ceph.run("osd", "pool", "set", pool, "size", "2")
        res = ceph.run("fs", "new", FS_NAME, FS_METADATA, FS_DATA, check=False)
        if res.rc != 0 and "already exists" not in res.stderr:
            res.check()
        ceph.run("fs", "set", FS_NAME, "allow_standby_replay", "true")
        for node in MDS_NODES:
            self.cluster.start_mds(node)

    def _extend_storage(self) -> None:
        self.state.put("raw_bytes_before_extend", checks.raw_capacity(self.ceph.json("df")))
        self.cluster.add_osds([(node, dev) for node in self.cfg.nodes for dev in ("sdc", "sdd")])

    def _toolbox(self) -> None:
        # The local toolbox is Ceph's own CLI on this machine with the lab's ceph.conf.
        env = self.cfg.lab_dir / "toolbox.env"
        env.write_text(f"# source this file, then run ceph, rados or rbd against the lab\n"
                       f"export CEPH_CONF={self.cluster.conf}\n")

    def _pg_num(self) -> None:
        for pool in (FS_DATA, BLOCK_POOL):
            self.ceph.run("osd", "pool", "set", pool, "pg_autoscale_mode", "off")
            self.ceph.run("osd", "pool", "set", pool, "pg_num", str(PG_NUM_TARGET))

    def _remove_node(self) -> None:
        self.cluster.remove_node_osds(REMOVED_NODE)

    # ----------------------------------------------------------------- CephFS mount
    def cephfs_root(self, name: str):
        why = fuse_unavailable()
        if why:
            return None, why
        return self.mount_cephfs(name), ""

    def mount_cephfs(self, name: str) -> Path:
        """Mount k8s-fs with ceph-fuse under the lab dir (a client daemon the lab owns)."""
        why = fuse_unavailable()
        if why:
            raise CommandError(["ceph-fuse"], -1, "", why)
        mnt = self.cfg.lab_dir / "mnt" / name
        rec_name = f"client.fuse-{name}"
        rec = self.cluster.record(rec_name)
        if rec and procs.is_alive(rec) and os.path.ismount(mnt):
            return mnt
        mnt.mkdir(parents=True, exist_ok=True)
        argv = ["ceph-fuse", "-f", "-c", str(self.cluster.conf), "--id", "admin",
                "--client_fs", FS_NAME, "--admin-socket", "", str(mnt)]
        rec = procs.spawn(rec_name, argv, self.cfg.lab_dir / "log" / f"{rec_name}.out")
        self.cluster._remember(rec)
        wait_for(f"CephFS mounted at {mnt}", lambda: _assert_mounted(mnt),
                 timeout=self.cfg.timeouts.daemon_start, interval=0.2,
                 fail_fast=lambda: procs.assert_running([rec]))
        return mnt

    def unmount_all(self) -> None:
        for rec in self.cluster.records():
            if rec.name.startswith("client.fuse-"):
                mnt = self.cfg.lab_dir / "mnt" / rec.name[len("client.fuse-"):]
                if os.path.ismount(mnt):
                    subprocess.run(["umount", str(mnt)], capture_output=True)
                procs.stop(rec)
                self.cluster._forget(rec.name)


def fuse_unavailable() -> Optional[str]:
    if os.geteuid() != 0:
        return "mounting CephFS with ceph-fuse needs root here"
    if not Path("/dev/fuse").exists():
        return "/dev/fuse is missing"
    if not shutil.which("ceph-fuse"):
        return "ceph-fuse is not installed (apt-get install ceph-fuse)"
    return None


def _assert_mounted(path: Path) -> None:
    assert os.path.ismount(path), f"{path} is not a mount point yet"
