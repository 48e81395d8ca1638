"""The local target: the lab's Ceph stages on a real Ceph cluster on this machine."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from .. import diagnose, invoke, procs, profile, stages
from ..ceph import CephRunner
from ..config import LabConfig
from ..errors import ConfigError, LabError
from ..lock import clear_lab_dir
from ..model import (BLOCK_POOL, SERVICE_NODE)
from ..secrets import SecretStore
from ..stages import Stage
from ..targets import NotOffered, Target
from . import blockdb, diskfull, ghost, mounts, nft, partition
from .blockdb import BlockDatabase
from .cephfs import CephFSMounts, fuse_unavailable
from .ghost import GhostBlog
from .daemons import CephDaemons
from .listeners import port_problem
from .parts import LocalLab
from .services import DASHBOARD_PORT, RGW, RGW_PORT, Dashboard

SERVICE_PORTS = ((DASHBOARD_PORT, "Ceph dashboard"), (blockdb.MYSQL_PORT, "MySQL"),
                 (RGW_PORT, "RGW S3"), (ghost.PORT, "Ghost"))


class LocalTarget(Target):
    name = "local"
    #: The stages whose modules have local work (``local(lab)``, :mod:`cephlab.stages`),
    #: and those that only act on what others built here (faults).
    supported = stages.runs_on("local")
    #: Bootstrap (fsid, keys, mon stores) and OSD creation (ids taken before their disks are
    #: made) start over; so do the MariaDB chain (a half-made XFS) and Ghost's first boot
    #: (its migrations). The other stages' commands are idempotent and are run again.
    rebuild_if_unfinished = frozenset({"ceph_cluster", "extend_storage", "mysql", "ghost"})

    def __init__(self, cfg, state):
        super().__init__(cfg, state)
        self.daemons = CephDaemons(cfg, state)
        self.cephfs = CephFSMounts(self.daemons)
        self.secrets = SecretStore(cfg.lab_dir)
        self.dashboard = Dashboard(self.daemons, self.secrets)
        self.rgw = RGW(self.daemons, self.secrets)
        self.mysql = BlockDatabase(self.daemons, self.secrets)
        self.ghost = GhostBlog(self.daemons, self.secrets, self.mysql, self.cephfs.mount)
        #: States the harness holds on purpose right now (see :meth:`holding`).
        self.held: dict[str, frozenset] = {"flags": frozenset(), "out": frozenset(),
                                           "down": frozenset()}
        #: Fail-fast of every wait on this lab: causes that cannot heal end it at once.
        self.watch = diagnose.Watch(self.causes)

    # ----------------------------------------------------------------- Target API
    def sanity_checks(self, say=print) -> None:
        self.daemons.preflight(say=say)
        if not self.daemons.running_mons():
            ip = self.cfg.loopback_ip(SERVICE_NODE)
            busy = [f"{ip}:{port} ({what}): {why}" for port, what in SERVICE_PORTS
                    if (why := port_problem(ip, port))]
            if busy:
                raise ConfigError("ports the local lab's services need are not free:\n  " +
                                  "\n  ".join(busy) + "\nStop what holds them, or use "
                                  "another --lab-ip-prefix.")

    @classmethod
    def unavailable(cls, stage: Stage) -> Optional[str]:
        # Only what this machine provides: the Ceph components (dashboard, radosgw, the
        # FUSE clients) come with the chosen Ceph release and are required by preflight.
        needs = {"mysql": blockdb.unavailable, "faults": blockdb.unavailable,
                 "ghost": lambda: blockdb.unavailable() or fuse_unavailable() or ghost.unavailable()}
        return needs.get(stage.slug, lambda: None)()

    @classmethod
    def ceph_release(cls, asked: Optional[str]) -> tuple[str, str]:
        """``--lab-ceph``: a release root of Debian's (auto: 20 where its root can be built) or
        this machine's Ceph (:func:`cephlab.local.releases.choose`)."""
        from .releases import choose
        from .rootfs import why_unbuildable

        return choose(asked, why_unbuildable)

    @classmethod
    def header_lines(cls, cfg: LabConfig) -> list[str]:
        from .rootfs import describe_choice

        return [f"lab ceph: {describe_choice(cfg.ceph_release)} ({cfg.ceph_reason})"]

    @property
    def ceph(self) -> CephRunner:
        return self.daemons.ceph

    def resume(self) -> list[str]:
        """A kept lab with nothing running (stopped, or the machine rebooted) is started
        again, mounts included. A lab where only some daemons died is left as it is: that is
        a fault for the scenarios to report (``python -m cephlab repair`` restarts them)."""
        records = self.daemons.records()
        alive = [r.name for r in records if procs.is_alive(r)]
        if not records or alive:
            return []
        return self.repair()

    def broken(self) -> list[str]:
        """Daemons of the lab that are recorded but not running."""
        return [r.name for r in self.daemons.records() if not procs.is_alive(r)]

    def repair(self) -> list[str]:
        """Start whatever of the lab is not running; release stale mounts first."""
        started = self.daemons.restart_missing()
        # Every dead CephFS client's stale mount is released before any is mounted again.
        started += self.cephfs.remount_dead()
        if self.state.applied("mysql"):
            started += [f"mysql chain: {part}" for part in self.mysql.ensure()]
        if self.state.applied("ghost"):
            started += self.ghost.ensure()  # after MariaDB and the CephFS mounts it uses
        return started

    def status(self) -> list[str]:
        lines = [f"daemon {rec.name:<18} pid {rec.pid:<8} "
                 f"{'running' if procs.is_alive(rec) else 'NOT RUNNING'}  log {rec.log}"
                 for rec in self.daemons.records()]
        mounted = set(mounts.mounts_under(self.cfg.lab_dir))
        lines += self.cephfs.status_lines(mounted)
        if self.state.applied("mysql"):
            for mnt, what in ((self.mysql.rbd_mnt, f"rbd-fuse of {BLOCK_POOL}/{blockdb.IMAGE}"),
                              (self.mysql.xfs_mnt, f"XFS on {self.mysql.loop_device()}")):
                lines.append(f"mount  {str(mnt):<40} {what}: "
                             f"{'mounted' if str(mnt) in mounted else 'NOT MOUNTED'}")
        services = [("ceph_dashboard", "ceph_dashboard", "Ceph dashboard"),
                    ("object_store", "s3", "S3 (radosgw)"), ("mysql", "mysql", "MySQL (MariaDB)"),
                    ("ghost", "ghost", "Ghost")]
        for slug, service, what in services:
            if self.state.applied(slug):
                host, port = self.endpoint(service)
                lines.append(f"service {what} at {host}:{port}")
        return lines

    # ----------------------------------------------------------------- diagnosis
    def causes(self, detail: bool = False) -> list:
        """What :func:`cephlab.diagnose.causes` finds, knowing the lab's OSDs, pools and
        daemons, and what the harness holds on purpose (:meth:`holding`)."""
        daemons = {r.name: diagnose.Daemon(procs.is_alive(r), r.pid, r.log)
                   for r in self.daemons.records()}
        osds = {int(name.split(".")[1]): info["node"] for name, info in self.daemons.osd_map().items()
                if name in daemons}  # one whose daemon was never started is still being made
        expected = diagnose.Expected(
            osds=osds, pools=tuple(stages.lab_pools(self.state.applied_slugs())), daemons=daemons,
            lab_dir=str(self.cfg.lab_dir), held_flags=self.held["flags"],
            held_out=self.held["out"], held_down=self.held["down"])
        return diagnose.causes(self.ceph.json("osd", "dump"), expected,
                               health=self.ceph.json("health", "detail") if detail else None,
                               osd_tree=self.ceph.json("osd", "tree") if detail else None)

    @contextmanager
    def holding(self, *, flags=(), out=(), down=()):
        """While inside, the harness itself holds these states (cluster flags it set, OSD ids
        it marked out or keeps down): waits do not fail fast on them."""
        before = dict(self.held)
        self.held = {"flags": before["flags"] | set(flags), "out": before["out"] | set(out),
                     "down": before["down"] | set(down)}
        try:
            yield
        finally:
            self.held = before

    def apply(self, stage: Stage) -> None:
        """The stage's work on the local lab, from its module (``local(lab)``)."""
        work = stages.work(stage, "local")
        if work is None:
            raise LabError(f"the local target has no work for stage {stage.slug}")
        lab: LocalLab = self  # what the stages' local work may use (mypy checks it is all here)
        work(lab)

    def describe(self) -> str:
        return (f"local Ceph cluster ({self.daemons.describe_ceph()}) in {self.cfg.lab_dir} (nodes "
                f"{', '.join(f'{n}={self.cfg.loopback_ip(n)}' for n in self.cfg.nodes)}); "
                f"toolbox: {invoke.ceph(self.cfg.lab_dir, 'status')}")

    def mon_names(self) -> list[str]:
        return list(self.cfg.nodes)  # one mon per node, named after it

    def fail_fast(self) -> None:
        self.daemons.assert_daemons_running()
        if self.daemons.running_mons():  # with no mon there is no map to read
            self.watch.check()

    def diagnostics(self) -> str:
        parts = []
        if self.daemons.conf.exists():
            for args in (("status",), ("health", "detail"), ("osd", "tree"), ("fs", "status")):
                res = self.ceph.run(*args, check=False, timeout=15)
                parts.append(f"$ ceph {' '.join(args)}  (exit {res.rc})\n"
                             f"{(res.stdout or res.stderr).strip()}")
        for rec in self.daemons.records():
            alive = procs.is_alive(rec)
            if not alive:
                parts.append(f"daemon {rec.name} (pid {rec.pid}) is NOT running; last lines of "
                             f"{rec.log}:\n{procs.log_tail(rec.log, 20)}")
        running = [r.name for r in self.daemons.records() if procs.is_alive(r)]
        parts.append(f"daemons running: {', '.join(running) or 'none'}")
        return "\n\n".join(parts)

    def destroy(self) -> list[str]:
        # Clients of the cluster first (Ghost, MariaDB and its mounts, CephFS mounts), then daemons.
        nft.remove_leftover(self.cfg.lab_dir)  # the cluster goes; its partition rules too
        with profile.timed("phase", "destroy: Ghost stopped"):
            self.ghost.stop()
        with profile.timed("phase", "destroy: MariaDB and its mounts down"):
            self.mysql.down()
        with profile.timed("phase", "destroy: CephFS unmounted"):
            self.cephfs.unmount_all()
        with profile.timed("phase", "destroy: Ceph daemons stopped"):
            killed = self.daemons.stop_all(graceful=False)
        left = self.daemons.env.release()  # the view of a root release, outside the lab dir
        for mnt in mounts.mounts_under(self.cfg.lab_dir):  # left by a run that was killed
            mounts.unmount(Path(mnt))
        left += mounts.mounts_under(self.cfg.lab_dir)
        if left:  # removing files below a live mount would delete data through it
            raise LabError(f"still mounted, so {self.cfg.lab_dir} was not removed: {', '.join(left)}")
        clear_lab_dir(self.cfg.lab_dir)  # the run's lock file stays until the run ends
        return killed

    # ----------------------------------------------------------------- services
    def endpoint(self, service: str) -> tuple[str, int]:
        ip = self.cfg.loopback_ip(SERVICE_NODE)
        ports = {"ceph_dashboard": DASHBOARD_PORT, "s3": RGW_PORT, "mysql": blockdb.MYSQL_PORT,
                 "ghost": ghost.PORT}
        if service not in ports:
            return super().endpoint(service)
        return ip, ports[service]

    def credentials(self, service: str) -> dict[str, str]:
        if service == "ceph_dashboard":
            return {"username": "admin", "password": self.secrets.get("dashboard-admin")}
        if service == "s3":
            key, secret = self.rgw.credentials()
            return {"access_key": key, "secret_key": secret}
        if service == "mysql":
            return {"user": "root", "password": self.mysql.root_password()}
        if service == "ghost":
            return self.ghost.owner()
        return super().credentials(service)

    def restart(self, service: str) -> None:
        if service == "mysql":
            self.mysql.restart()
        elif service == "ghost":
            self.ghost.restart()
        elif service == "s3":
            rec = self.daemons.record(self.rgw.name)
            if rec:
                procs.stop(rec)
            self.rgw.start()
        else:
            super().restart(service)

    def block_volume(self, service: str) -> tuple[str, str]:
        if service == "mysql":  # where the running rbd-fuse maps the image from, as started
            rec = self.daemons.record(blockdb.RBD_FUSE)
            argv = rec.argv if rec else []
            flag = lambda f, default: argv[argv.index(f) + 1] if f in argv else default  # noqa: E731
            return flag("-p", BLOCK_POOL), flag("-r", blockdb.IMAGE)
        return super().block_volume(service)

    def inject_fault(self, fault: str, **options):
        from . import faults

        if fault == "osd_killed_during_writes":
            return faults.osd_killed_during_writes(self, **options)
        if fault == "node_stopped":
            root, why = self.cephfs_root("faults")
            return faults.node_stopped(self, rows=self._mysql_rows, fs_root=root, **options)
        if fault == "network_partition":
            why = nft.unavailable()
            if why:
                raise NotOffered(f"the local target cannot partition its network here: {why}")
            root, _ = self.cephfs_root("faults")
            return partition.network_partition(self, db=self.mysql, fs_root=root, **options)
        if fault == "disk_full":
            root, _ = self.cephfs_root("faults")
            return diskfull.disk_full(self, rows=self._mysql_rows, fs_root=root, **options)
        if fault == "mds_failover":
            root, why = self.cephfs_root("faults")
            if root is None:
                raise LookupError(f"mds_failover needs a CephFS mount: {why}")
            return faults.mds_failover(self, fs_root=root, **options)
        return super().inject_fault(fault, **options)

    def fault_leftovers(self) -> list[str]:
        left = []
        table = nft.table_name(self.cfg.lab_dir)
        if nft.present(table):
            left.append(f"the network partition's nftables table {nft.FAMILY} {table} is still there")
        saved = self.state.get(diskfull.FACT)
        if saved:
            left.append(f"the lab still records lowered full ratios to restore ({saved})")
        return left

    def undo_faults(self) -> list[str]:
        """Partition rules are removed whatever runs; lowered ratios are restored when the
        mons run (else after the lab is started again: the lifecycle asks twice)."""
        undone = [nft.remove_leftover(self.cfg.lab_dir)]
        if self.state.exists and self.daemons.running_mons():
            undone.append(diskfull.restore_leftover(self))
        return [what for what in undone if what]

    def _mysql_rows(self) -> list:
        """Every row of the fault check table (created on first use)."""
        with self.mysql.connect(autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS faults")
            cur.execute("CREATE TABLE IF NOT EXISTS faults.rows_kept (id INT PRIMARY KEY, v CHAR(32))")
            cur.execute("SELECT COUNT(*) FROM faults.rows_kept")
            if cur.fetchone()[0] == 0:
                cur.executemany("INSERT INTO faults.rows_kept VALUES (%s, MD5(%s))",
                                [(i, str(i)) for i in range(200)])
            cur.execute("SELECT id, v FROM faults.rows_kept ORDER BY id")
            return [tuple(r) for r in cur.fetchall()]

    def stop_service(self, service: str) -> None:
        """Fault injection for the harness's own tests: stop a service and leave it down."""
        names = {"s3": self.rgw.name, "mysql": blockdb.MARIADB, "ghost": ghost.NAME}
        rec = self.daemons.record(names[service])
        if rec:
            procs.stop(rec)

    # ----------------------------------------------------------------- CephFS mount
    def cephfs_root(self, name: str):
        why = fuse_unavailable()
        if why:
            return None, why
        return self.cephfs.mount(name), ""
