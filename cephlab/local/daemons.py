"""The lab's Ceph daemons on this machine: a real Ceph cluster shaped like the lab.

Nodes k8s-1..3 are CRUSH hosts; node k8s-N's daemons bind to its own loopback address
(``<ip_prefix>.<N+1>``, mirroring the lab's 10.254.1.N+1). Each node's disks sdc and sdd are
sparse files; a BlueStore OSD uses one as its ``block``. Every daemon runs in the foreground
as a child process the harness owns (pid and log recorded in the lab state). Everything
lives under the lab directory: ceph.conf, the keyring, mon/osd/mds data, logs, admin
sockets. /etc/ceph is never read or written.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Optional

from .. import ceph_checks, procs, profile
from ..ceph import LocalCeph
from ..config import LabConfig
from ..errors import ConfigError, LabError
from ..procs import DaemonRecord, run_checked
from ..state import LabState
from ..waits import wait_for
from . import ceph_conf, chroot, listeners
from .listeners import MON_PORTS, port_problem
from .programs import (BINARIES, COMPONENTS, DASHBOARD_MODULE, install_hint,  # noqa: F401
                       missing_binaries)
from .releases import Running

DEVICES = ("sdc", "sdd")

#: Ceph's own daemons, in the order they are started (a client of the lab is not one of them).
CEPH_DAEMON_PREFIXES = ("mon.", "mgr.", "osd.", "mds.", "client.rgw.")


class CephDaemons:
    def __init__(self, cfg: LabConfig, state: LabState):
        self.cfg = cfg
        self.state = state
        self.dir = cfg.lab_dir
        self.conf = self.dir / "ceph.conf"
        self.keyring = self.dir / "keyring"
        # A kept lab runs on the release it was built with (an explicit --lab-ceph that
        # differs is refused by preflight; an automatic choice follows the lab).
        self.release = (state.get("ceph") or {}).get("release") or cfg.ceph_release
        self.env = chroot.for_release(self.release, self.dir)
        self.ceph = LocalCeph(self.conf, wrap=self.env.wrap, server=True)
        self.ceph.timeout = cfg.timeouts.command
        self.running: Optional[Running] = None  #: set by preflight from `ceph --version`
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ daemon records
    def records(self) -> list[DaemonRecord]:
        return [DaemonRecord.from_json(d) for d in self.state.doc["daemons"].values()]

    def record(self, name: str) -> Optional[DaemonRecord]:
        raw = self.state.doc["daemons"].get(name)
        return DaemonRecord.from_json(raw) if raw else None

    def remember(self, rec: DaemonRecord) -> None:
        with self._lock:
            self.state.doc["daemons"][rec.name] = rec.to_json()
            self.state.save()

    def forget(self, name: str) -> None:
        with self._lock:
            self.state.doc["daemons"].pop(name, None)
            self.state.save()

    def ceph_daemons(self) -> list[str]:
        """The names of the lab's Ceph daemons (mons, mgrs, OSDs, MDSs, RGWs), not its clients."""
        return [r.name for r in self.records() if r.name.startswith(CEPH_DAEMON_PREFIXES)]

    def assert_daemons_running(self, names: Optional[Iterable[str]] = None) -> None:
        """Fail fast: raise DaemonExited if a daemon the lab expects is gone."""
        recs = self.records()
        if names is not None:
            wanted = set(names)
            recs = [r for r in recs if r.name in wanted]
        procs.assert_running(recs)

    # ------------------------------------------------------------------ preflight
    def preflight(self, say=print) -> None:
        """Bad input is refused before anything is written or started: a kept lab of
        another release, missing programs, a Ceph release the lab does not support, busy
        ports. A root release's root is built (or reused) here."""
        if (self.release != self.cfg.ceph_release and self.state.exists
                and not self.cfg.ceph_reason.startswith("auto")):
            raise ConfigError(
                f"the lab in {self.dir} runs ceph {self.release!r}, not {self.cfg.ceph_release!r};"
                f" use --lab-ceph={self.release}, another --lab-dir, or destroy it first")
        self.env.prepare(say=say)
        origin = self.env.origin()
        for table in (BINARIES, COMPONENTS):  # the release is read with the first (ceph)
            missing = missing_binaries(table, which=self.env.which)
            if missing:
                raise ConfigError(
                    f"the local target needs {', '.join(missing)}, not found in {origin}; "
                    f"install with:\n    {install_hint(missing, table)}\n"
                    f"(or run `python3 -m cephlab setup`, which does this)")
            if self.running is None:
                self.running = chroot.detect(self.env)
        if not self.env.exists(DASHBOARD_MODULE):
            raise ConfigError(f"the mgr dashboard module is not installed in {origin}; install "
                              f"with:\n    {install_hint(['dashboard'], {'dashboard': 'ceph-mgr-dashboard'})}")
        assert self.running is not None  # detected with the first table above
        say(f"[lab] {self.running.describe()} from {origin}")
        self.state.put("ceph", {"release": self.release, "version": self.running.version,
                                "name": self.running.release.name, "origin": origin},
                       save=self.state.exists)  # a lab not built yet is not written here
        if not self.state.exists or not self.running_mons():
            self.check_ports_free()

    def describe_ceph(self) -> str:
        info = self.state.get("ceph")
        if not info:
            return f"ceph {self.release} (not checked yet)"
        return f"ceph {info['version']} {info['name']} from {info['origin']}"

    def check_ports_free(self) -> None:
        """The mons' fixed ports, and every other port on the nodes' addresses: the lab's
        other daemons (mgr, OSDs, MDS, RGW, MariaDB, Ghost) bind ports of their own choosing
        there, so a listener on a node's address that the lab does not own is another lab's
        (named by its directory) or somebody else's (named by pid and command)."""
        ips = [self.cfg.loopback_ip(n) for n in self.cfg.nodes]
        mine = {r.pid for r in self.records() if procs.is_alive(r)}
        found = [ln for ln in listeners.on(ips, MON_PORTS) if ln.pid not in mine or ln.pid is None]
        busy: list[str] = []
        other_labs: dict[Path, list[listeners.Listener]] = {}
        held: dict[str, list[str]] = {}
        for ln in found:
            if ln.lab_dir is not None:
                other_labs.setdefault(ln.lab_dir, []).append(ln)
        for lab_dir, lns in other_labs.items():
            # a listener is known to be another lab's only through its process: it has a pid
            pids = sorted({ln.pid for ln in lns if ln.pid is not None})
            busy.append(f"the lab in {lab_dir} uses these addresses: {len(lns)} ports on "
                        f"{', '.join(sorted({ln.ip for ln in lns}))} held by its daemons (pids "
                        f"{', '.join(map(str, pids[:8]))}{' …' if len(pids) > 8 else ''})")
        for node, ip in zip(self.cfg.nodes, ips, strict=True):
            for port in MON_PORTS:
                owner = next((x for x in found if x.port == port and x.ip in (ip, listeners.ANY)), None)
                if owner is not None and owner.lab_dir is not None:
                    continue  # named with its lab above
                problem = port_problem(ip, port)
                if problem:
                    busy.append(f"{ip}:{port} ({node}'s mon): {problem}")
        for ln in found:
            if ln.lab_dir is None and ln.port not in MON_PORTS:
                held.setdefault(ln.describe(), []).append(f"{ln.ip}:{ln.port}")
        for who, where in held.items():
            more = f" and {len(where) - 4} more" if len(where) > 4 else ""
            busy.append(f"{', '.join(where[:4])}{more} (the lab's node addresses, where its "
                        f"daemons listen): held by {who}")
        if busy:
            raise ConfigError(
                "ports the local lab needs are not free:\n  " + "\n  ".join(busy) +
                f"\nStop what holds them, or give the lab other addresses with "
                f"--lab-ip-prefix (now {self.cfg.ip_prefix}).")

    def running_mons(self) -> list[str]:
        return [r.name for r in self.records() if r.name.startswith("mon.") and procs.is_alive(r)]

    # ------------------------------------------------------------------ configuration
    def mon_names(self) -> list[str]:
        return list(self.cfg.nodes)

    def mon_addrs(self, node: str) -> str:
        return ceph_conf.mon_addrs(self.cfg.loopback_ip(node))

    def render_conf(self, fsid: str) -> str:
        return ceph_conf.render(self.cfg, fsid, self.keyring,
                                self.running.release.conf_lines() if self.running else [])

    # ------------------------------------------------------------------ bootstrap
    def bootstrap(self) -> None:
        """mons (one per node) in quorum, and the mgr started (``wait_mgr`` awaits it: OSDs
        do not need it, so they are created while it loads its modules)."""
        if self.running is None:  # the release decides ceph.conf: read it first
            self.preflight()
        for sub in ("run", "log", "mon", "mgr", "osd", "mds", "crash", "nodes"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        fsid = str(uuid.uuid4())
        self.conf.write_text(self.render_conf(fsid))
        self.state.put("fsid", fsid)
        # A root release: the lab's view of its root, mounted once the lab dir is a lab
        # (state.json written), so that destroy always finds and unmounts it.
        self.env.ensure_mounted()

        authtool = ["ceph-authtool", str(self.keyring)]
        self._tool(["ceph-authtool", "--create-keyring", str(self.keyring), "--gen-key", "-n", "mon.",
              "--cap", "mon", "allow *"])
        self._tool([*authtool, "--gen-key", "-n", "client.admin", "--cap", "mon", "allow *",
              "--cap", "osd", "allow *", "--cap", "mds", "allow *", "--cap", "mgr", "allow *"])
        for node in self.cfg.nodes:  # every node may host a mgr, an MDS and an RGW
            self._tool([*authtool, "--gen-key", "-n", f"mgr.{node}", "--cap", "mon", "allow profile mgr",
                  "--cap", "osd", "allow *", "--cap", "mds", "allow *"])
            self._tool([*authtool, "--gen-key", "-n", f"mds.{node}", "--cap", "mon", "allow profile mds",
                  "--cap", "osd", "allow rwx", "--cap", "mds", "allow", "--cap", "mgr",
                  "allow profile mds"])
            self._tool([*authtool, "--gen-key", "-n", f"client.rgw.{node}", "--cap", "mon", "allow rw",
                  "--cap", "osd", "allow rwx", "--cap", "mgr", "allow rw"])
        os.chmod(self.keyring, 0o600)

        monmap = self.dir / "monmap"
        cmd = ["monmaptool", "--create", "--clobber", "--fsid", fsid]
        for node in self.cfg.nodes:
            cmd += ["--addv", node, self.mon_addrs(node)]
        self._tool([*cmd, str(monmap)])
        with ThreadPoolExecutor(len(self.cfg.nodes)) as pool:
            list(pool.map(lambda n: self._tool(["ceph-mon", "-c", str(self.conf), "--mkfs", "-i", n,
                                          "--monmap", str(monmap), "--keyring",
                                          str(self.keyring)]), self.cfg.nodes))
        for node in self.cfg.nodes:
            self.start_mon(node)
        self.wait_quorum()
        mgr_pool = self.running.release.mgr_pool[0] if self.running else ""
        if mgr_pool:  # as the mgr would create it, before any OSD (releases.Release.mgr_pool)
            self.ceph.run("osd", "pool", "create", mgr_pool, "1", "--pg-num-min", "1",
                          "--pg-num-max", "32", "--yes-i-really-mean-it")
            self.ceph.run("osd", "pool", "application", "enable", mgr_pool, "mgr",
                          "--yes-i-really-mean-it")
        self.start_mgr(self.cfg.nodes[0])

    def _daemon_argv(self, binary: str, ident: str, node: str) -> list[str]:
        ip = self.cfg.loopback_ip(node)
        return [binary, "-f", "-c", str(self.conf), "-i", ident, "--public-addr", ip]

    def _start(self, name: str, argv: list[str]) -> DaemonRecord:
        rec = self.record(name)
        if rec and procs.is_alive(rec):
            return rec
        rec = procs.spawn(name, self.env.wrap(argv), self.dir / "log" / f"{name}.out")
        self.remember(rec)
        return rec

    def spawn_client(self, name: str, argv: list[str]) -> DaemonRecord:
        """A Ceph client daemon (ceph-fuse, rbd-fuse) of this lab's release, recorded."""
        rec = procs.spawn(name, self.env.wrap(argv), self.dir / "log" / f"{name}.out")
        self.remember(rec)
        return rec

    def _tool(self, argv: list[str], timeout: float = 60) -> str:
        """One of Ceph's own tools (ceph-authtool, monmaptool, mkfs), of this lab's release."""
        return run_checked(self.env.wrap(argv), timeout=timeout)

    def start_mon(self, node: str) -> DaemonRecord:
        return self._start(f"mon.{node}", self._daemon_argv("ceph-mon", node, node))

    def start_mgr(self, node: str) -> DaemonRecord:
        return self._start(f"mgr.{node}", self._daemon_argv("ceph-mgr", node, node))

    def start_mds(self, node: str) -> DaemonRecord:
        return self._start(f"mds.{node}", self._daemon_argv("ceph-mds", node, node))

    def start_osd(self, osd_id: int, node: str) -> DaemonRecord:
        argv = self._daemon_argv("ceph-osd", str(osd_id), node)
        argv += ["--cluster-addr", self.cfg.loopback_ip(node),
                 f"--crush-location=root=default host={node}"]
        return self._start(f"osd.{osd_id}", argv)

    def wait_quorum(self, mons: Optional[list[str]] = None) -> None:
        mons = mons or self.mon_names()
        wait_for("all mons in quorum", lambda: ceph_checks.assert_quorum(
            self.ceph.json("quorum_status"), mons),
            timeout=self.cfg.timeouts.quorum, interval=0.5,
            fail_fast=lambda: self.assert_daemons_running(f"mon.{m}" for m in mons))

    def wait_mgr(self) -> None:
        wait_for("an active mgr", lambda: ceph_checks.assert_active_mgr(self.ceph.json("mgr", "stat")),
                 timeout=self.cfg.timeouts.daemon_start, interval=0.5,
                 fail_fast=lambda: self.assert_daemons_running(
                     [r.name for r in self.records() if r.name.startswith("mgr.")]))

    def run_at_once(self, *commands: tuple[str, ...]) -> None:
        """Independent ``ceph …`` commands sent together (the mons take them concurrently);
        every one must succeed."""
        with ThreadPoolExecutor(len(commands)) as pool:
            for job in [pool.submit(self.ceph.run, *args) for args in commands]:
                job.result()

    def json_at_once(self, *commands: tuple[str, ...]) -> list:
        """Several ``ceph … -f json`` answers fetched concurrently: one poll of a wait costs
        one CLI round trip, not one per command."""
        with ThreadPoolExecutor(len(commands)) as pool:
            return list(pool.map(lambda args: self.ceph.json(*args), commands))

    # ------------------------------------------------------------------ OSDs
    def disk_path(self, node: str, device: str) -> Path:
        return self.dir / "nodes" / node / f"{device}.img"

    def osd_map(self) -> dict[str, dict]:
        """``{"osd.N": {"node": …, "device": …, "uuid": …}}`` of the OSDs this lab made."""
        return self.state.doc["data"].setdefault("osds", {})

    def add_osds(self, placements: list[tuple[str, str]]) -> list[int]:
        """Create one BlueStore OSD per (node, device) not yet used, start them, wait up+in.

        The OSDs are registered at once (key, ``osd new``: the mons take them concurrently),
        their keys written to the keyring one after another, then each is made and started
        on its own thread (mkfs writes its own disk); the one wait at the end sees them all.
        Ids are chosen here, the lowest free ones in placement order (what Ceph itself would
        pick one call at a time), so the layout stays the same whichever thread is first."""
        for node, device in placements:
            if node not in self.cfg.nodes:
                raise ConfigError(f"unknown node {node!r}; the lab's nodes are {', '.join(self.cfg.nodes)}")
            if device not in DEVICES:
                raise ConfigError(f"unknown device {device!r} on {node}; the lab's disks are "
                                  f"{', '.join(DEVICES)}")
        used = {(v["node"], v["device"]) for v in self.osd_map().values()}
        todo = [p for p in placements if p not in used]
        if not todo:
            self.wait_osds()
            return []
        ids = free_ids(self.ceph.json("osd", "ls"), len(todo))

        def register(osd_id: int) -> tuple[str, str]:
            osd_uuid = str(uuid.uuid4())
            key = self._tool(["ceph-authtool", "--gen-print-key"]).strip()
            secret = json.dumps({"cephx_secret": key}).encode()
            out = self.ceph.run("osd", "new", osd_uuid, str(osd_id), "-i", "-", stdin=secret)
            if int(out.stdout.strip()) != osd_id:
                raise LabError(f"ceph osd new gave osd.{out.stdout.strip()}, asked for osd.{osd_id}")
            return osd_uuid, key

        def make(osd_id: int, node: str, device: str, osd_uuid: str) -> None:
            disk = self.disk_path(node, device)
            disk.parent.mkdir(parents=True, exist_ok=True)
            with open(disk, "wb") as fh:  # a fresh, sparse, empty disk
                fh.truncate(self.cfg.disk_size_gib * 1024 ** 3)
            data = self.dir / "osd" / f"ceph-{osd_id}"
            if data.exists():
                shutil.rmtree(data)
            data.mkdir(parents=True)
            (data / "block").symlink_to(disk)
            self._tool(["ceph-osd", "-c", str(self.conf), "-i", str(osd_id), "--mkfs",
                        "--osd-uuid", osd_uuid], timeout=120)
            with self._lock:
                self.osd_map()[f"osd.{osd_id}"] = {"node": node, "device": device, "uuid": osd_uuid}
                self.state.save()
            self.start_osd(osd_id, node)

        with ThreadPoolExecutor(len(todo)) as pool:
            made = [job.result() for job in [pool.submit(register, i) for i in ids]]
        # One writer at a time, and all before any mkfs: ceph-authtool rewrites the whole
        # keyring file in place, and an mkfs (which authenticates to the mons as its OSD)
        # reading it mid-write found no key (seen: handle_auth_bad_method, mkfs exit 1).
        for osd_id, (_, key) in zip(ids, made, strict=True):
            self._tool(["ceph-authtool", str(self.keyring), "--name", f"osd.{osd_id}", "--add-key", key])
        with ThreadPoolExecutor(len(todo)) as pool:
            jobs = [pool.submit(make, i, n, d, u) for i, (n, d), (u, _) in zip(ids, todo, made, strict=True)]
            for job in jobs:
                job.result()  # the first failure is raised, after every thread has ended
        self.wait_osds()
        return ids

    def expected_layout(self) -> dict[str, int]:
        """OSD count per CRUSH host, as the lab's applied stages say it should be."""
        layout: dict[str, int] = {}
        for info in self.osd_map().values():
            layout[info["node"]] = layout.get(info["node"], 0) + 1
        return layout

    def wait_osds(self) -> None:
        layout = self.expected_layout()

        def probe():
            # The processes first: right after an OSD is killed the map still says it is up
            # (its peers report it within a heartbeat), and "up and in" would hold at once.
            self.assert_daemons_running(self.osd_map().keys())
            return ceph_checks.assert_osds(*self.json_at_once(("osd", "dump"), ("osd", "tree")), layout)
        wait_for(f"{sum(layout.values())} OSDs up and in", probe,
                 timeout=self.cfg.timeouts.osds_up, interval=0.5,
                 fail_fast=lambda: self.assert_daemons_running(self.osd_map().keys()))

    def remove_node_osds(self, node: str) -> list[int]:
        """out → wait until drained (every PG active+clean elsewhere, and Ceph says the OSDs
        are safe to destroy) → stop → purge → remove the CRUSH host → wipe."""
        ids = sorted(int(k.split(".")[1]) for k, v in self.osd_map().items() if v["node"] == node)
        if not ids:
            return []
        names = [f"osd.{i}" for i in ids]
        self.ceph.run("osd", "out", *map(str, ids))
        def drained():
            # safe-to-destroy reads PG stats, which lag; requiring every PG active+clean in
            # the same look keeps a PG still backfilling from the OSDs from being missed.
            ceph_checks.assert_pgs_clean(self.ceph.json("status"))
            ceph_checks.assert_safe_to_destroy(self.ceph.json("osd", "safe-to-destroy", *map(str, ids)), ids)
        wait_for(f"{', '.join(names)} drained and safe to destroy", drained,
                 timeout=self.cfg.timeouts.safe_to_destroy, interval=0.5,
                 fail_fast=lambda: self.assert_daemons_running(
                     n for n in self.osd_map() if n not in names))
        recs = [r for r in map(self.record, names) if r]
        with ThreadPoolExecutor(max(1, len(recs))) as pool:
            list(pool.map(procs.stop, recs))
        for name in names:
            self.forget(name)
        self.run_at_once(*[("osd", "purge", str(i), "--yes-i-really-mean-it") for i in ids])
        self.ceph.run("osd", "crush", "rm", node)
        for name in names:
            info = self.osd_map().pop(name)
            disk = self.disk_path(info["node"], info["device"])
            with open(disk, "wb") as fh:  # zap: the disk is empty again
                fh.truncate(self.cfg.disk_size_gib * 1024 ** 3)
            shutil.rmtree(self.dir / "osd" / f"ceph-{name.split('.')[1]}", ignore_errors=True)
        self.state.save()
        return ids

    # ------------------------------------------------------------------ reuse / teardown
    def restart_missing(self) -> list[str]:
        """Start again any recorded daemon that is not running (e.g. after a reboot).

        Daemons already running are left alone. Returns the names that were started.
        """
        started = []
        if any(not procs.is_alive(r) for r in self.records()):
            self.env.ensure_mounted()  # after a reboot the root's mounts are gone too
        for prefix in CEPH_DAEMON_PREFIXES:
            for rec in self.records():
                if rec.name.startswith(prefix) and not procs.is_alive(rec):
                    new = procs.spawn(rec.name, rec.argv, Path(rec.log))
                    self.remember(new)
                    started.append(rec.name)
        if any(n.startswith("mon.") for n in started):
            self.wait_quorum()
        return started

    def stop_all(self, graceful: bool = True) -> list[str]:
        """Stop every daemon this lab started, clients first, mons last. Returns those that
        had to be killed. ``graceful=False`` (a lab being removed) SIGKILLs Ceph's own
        daemons at once: nothing of theirs is kept, and their clean shutdown (MDS, RGW, OSD)
        took seconds each; the lab's clients (FUSE mounts) still get SIGTERM first."""
        self.ceph.close()  # its command servers first: they run in the root, a client
        stop = _stop_timed if graceful else _stop_or_kill
        killed = []
        rank = {"client": 0, "rgw": 1, "mds": 2, "osd": 3, "mgr": 4, "mon": 5}
        recs = sorted(self.records(), key=lambda r: rank.get(r.name.split(".")[0], 0))
        groups: dict[int, list[DaemonRecord]] = {}
        for rec in recs:
            groups.setdefault(rank.get(rec.name.split(".")[0], 0), []).append(rec)
        for _, group in sorted(groups.items()):
            with ThreadPoolExecutor(len(group)) as pool:
                for rec, was_killed in zip(group, pool.map(stop, group), strict=True):
                    if was_killed:
                        killed.append(rec.name)
        return killed


def _stop_timed(rec: DaemonRecord) -> bool:
    with profile.timed("phase", f"stop: {rec.name.split('.')[0]} stopped"):
        return procs.stop(rec)


def _stop_or_kill(rec: DaemonRecord) -> bool:
    """SIGKILL for Ceph's own daemons (not reported as having had to be killed), a clean stop
    for the rest."""
    if not rec.name.startswith(CEPH_DAEMON_PREFIXES):
        return _stop_timed(rec)
    with profile.timed("phase", f"stop: {rec.name.split('.')[0]} killed"):
        procs.kill(rec, signal.SIGKILL)
    return False


def free_ids(existing: list[int], count: int) -> list[int]:
    """The ``count`` lowest OSD ids not in ``existing`` (``ceph osd ls``), as Ceph picks them."""
    taken, candidate = set(existing), 0
    out: list[int] = []
    while len(out) < count:
        if candidate not in taken:
            out.append(candidate)
        candidate += 1
    return out

