"""Faults injected into the local lab, and what survives them.

Each function injects one fault into a lab that is healthy, measures how long Ceph takes to
notice it and to recover once the fault is undone, checks every item of data it knows
about, and returns a :class:`FaultReport`. The lab is healthy again when it returns (or the
function raised, naming what did not come back).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .. import ceph_checks, data, procs
from ..model import BLOCK_POOL, FS_DATA, FS_METADATA, FS_NAME, NODES
from ..waits import wait_for

WRITE_BLOB = 64 * 1024


@dataclass
class FaultReport:
    """Seconds are kept to the millisecond: a warning the monitors raise on the first
    poll is detected in a few ms, and rounding that to 0.0 reads as "never measured"."""
    fault: str
    injected: str
    detect_seconds: float
    recover_seconds: float
    checked: dict[str, int] = field(default_factory=dict)
    lost: int = 0
    lost_items: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


class Writer(threading.Thread):
    """Writes objects to a pool one after another until stopped, remembering each digest."""

    def __init__(self, ceph, pool: str, prefix: str):
        super().__init__(daemon=True)
        self.ceph, self.pool, self.prefix = ceph, pool, prefix
        self.written: dict[str, str] = {}
        self.times: list[float] = []
        self.errors: list[str] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stop_event.is_set():
            name, blob = f"{self.prefix}-{i}", os.urandom(WRITE_BLOB)
            res = self.ceph.run("-p", self.pool, "put", name, "-", tool="rados", stdin=blob,
                                check=False, timeout=120)
            if res.rc == 0:
                self.written[name] = data.sha256(blob)
                self.times.append(time.monotonic())
            else:
                self.errors.append(f"{name}: exit {res.rc}: {res.stderr.strip()[:200]}")
            i += 1

    def writes_after(self, moment: float) -> int:
        return sum(1 for t in self.times if t > moment)


#: Poll interval of the waits that time a fault (seconds): a detect or recover figure is
#: late by up to one interval plus one round trip, so it is kept short; each poll costs a
#: `ceph` command or two, a few milliseconds each from the lab's command servers.
POLL = 0.25


def wait_healthy(target, name: str) -> None:
    def probe():
        status, health = target.daemons.json_at_once(("status",), ("health", "detail"))
        ceph_checks.assert_pgs_clean(status)
        ceph_checks.assert_health(health)
    wait_for(name, probe, timeout=target.cfg.timeouts.health, interval=POLL,
             fail_fast=target.fail_fast)


def osd_down(ceph, ids: list[int]) -> None:
    _down_in(ceph.json("osd", "dump"), ids)


def _down_in(dump: dict, ids: list[int]) -> None:
    states = ceph_checks.osd_states(dump)
    up = [i for i in ids if states.get(i, (True, True))[0]]
    assert not up, "still reported up: " + ", ".join(f"osd.{i}" for i in up)


def osds_of(target, node: str) -> list[int]:
    return sorted(int(k.split(".")[1]) for k, v in target.daemons.osd_map().items()
                  if v["node"] == node)


def _restart(target, names: list[str]) -> None:
    """Undo the fault: the lab's own restart of what is not running, which must be exactly
    the daemons this fault killed (it waits for quorum when a mon is among them)."""
    started = target.daemons.restart_missing()
    assert sorted(started) == sorted(names), f"restarted {started}, expected exactly {names}"


def osd_killed_during_writes(target, node: str = NODES[-1]) -> FaultReport:
    ceph, osd = target.ceph, osds_of(target, node)[0]
    name = f"osd.{osd}"
    wait_healthy(target, f"a healthy lab before killing {name}")
    writer = Writer(ceph, BLOCK_POOL, "fault-osd")
    writer.start()
    try:
        wait_for("the client's first writes", lambda: at_least(len(writer.written), 3),
                 timeout=60, interval=0.2)
        procs.kill(target.daemons.record(name), signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(f"{name} reported down", lambda: osd_down(ceph, [osd]),
                 timeout=target.cfg.timeouts.osds_up, interval=POLL)
        detect = time.monotonic() - killed_at
        wait_for("writes to go on with the OSD down",
                 lambda: at_least(writer.writes_after(killed_at + detect), 5),
                 timeout=target.cfg.timeouts.osds_up, interval=POLL)
    finally:
        writer.stop_event.set()
        writer.join(timeout=180)
    restarted = time.monotonic()
    _restart(target, [name])
    target.daemons.wait_osds()
    wait_healthy(target, "recovery to all PGs active+clean after the OSD came back")
    recover = time.monotonic() - restarted
    lost = data.read_objects(ceph, BLOCK_POOL, writer.written)
    report = FaultReport(
        fault="osd_killed_during_writes", injected=f"SIGKILL to {name} on {node} while a client wrote",
        detect_seconds=round(detect, 3), recover_seconds=round(recover, 3),
        checked={"objects": len(writer.written)}, lost=len(lost), lost_items=lost,
        notes=[f"{writer.writes_after(killed_at)} writes completed after the kill"] + writer.errors)
    return report


def node_stopped(target, node: str = NODES[-1], rows: Callable[[], list] | None = None,
                 fs_root: Path | None = None) -> FaultReport:
    """Every daemon of ``node`` killed at once (mon, OSDs, MDS): a node that lost power."""
    ceph = target.ceph
    # From a healthy lab only: right after a stopped run's fault was undone, k8s-3's OSD can
    # still be marked down, and "noticed down" would hold before anything was killed.
    wait_healthy(target, f"a healthy lab before stopping {node}")
    objects = data.write_objects(ceph, BLOCK_POOL, f"fault-node-{node}")
    files = data.write_files(fs_root, f"fault-node-{node}") if fs_root else {}
    rows_before = rows() if rows else []
    names = [f"mon.{node}"] + [f"osd.{i}" for i in osds_of(target, node)]
    if target.daemons.record(f"mds.{node}"):
        names.append(f"mds.{node}")
    killed_at = time.monotonic()
    for name in names:
        procs.kill(target.daemons.record(name), signal.SIGKILL)
    others = [n for n in target.cfg.nodes if n != node]

    def noticed():
        quorum, dump = target.daemons.json_at_once(("quorum_status",), ("osd", "dump"))
        in_quorum = ceph_checks.assert_quorum(quorum, others)
        assert node not in in_quorum, f"mon.{node} still in quorum ({', '.join(in_quorum)})"
        _down_in(dump, osds_of(target, node))
    wait_for(f"{node} noticed down (quorum of {', '.join(others)}, its OSDs down)", noticed,
             timeout=target.cfg.timeouts.osds_up, interval=POLL)
    detect = time.monotonic() - killed_at
    quorum = ceph.json("quorum_status")["quorum_names"]
    assert node not in quorum and len(quorum) == 2, f"quorum is {quorum} with {node} down"
    lost = data.read_objects(ceph, BLOCK_POOL, objects)
    lost += read_files_bounded(fs_root, files, timeout=target.cfg.timeouts.mds)
    rows_during = rows() if rows else []
    if rows_during != rows_before:
        lost.append(f"MySQL rows differ while {node} is down ({len(rows_during)} of {len(rows_before)})")
    restarted = time.monotonic()
    _restart(target, names)
    target.daemons.wait_osds()
    wait_healthy(target, f"HEALTH_OK again after {node} came back")
    recover = time.monotonic() - restarted
    lost += data.read_objects(ceph, BLOCK_POOL, objects)
    return FaultReport(
        fault="node_stopped", injected=f"SIGKILL to every daemon of {node}: {', '.join(names)}",
        detect_seconds=round(detect, 3), recover_seconds=round(recover, 3),
        checked={"objects": len(objects), "files": len(files), "rows": len(rows_before)},
        lost=len(lost), lost_items=lost, notes=[f"quorum while down: {', '.join(quorum)}"])


def mds_failover(target, fs_root: Path) -> FaultReport:
    ceph = target.ceph

    def by_state():
        return ceph_checks.assert_filesystem(ceph.json("fs", "status", FS_NAME), metadata_pool=FS_METADATA,
                                        data_pools=[FS_DATA])
    wait_healthy(target, "a healthy lab before killing the active MDS")
    before = by_state()
    active = before["active"][0]
    files = data.write_files(fs_root, "fault-mds")
    killed_at = time.monotonic()
    procs.kill(target.daemons.record(f"mds.{active}"), signal.SIGKILL)

    def taken_over():
        fs = ceph.json("fs", "status", FS_NAME)
        act = [m["name"] for m in fs.get("mdsmap", []) if m.get("state") == "active"]
        assert act and act != [active], f"active MDS: {act or 'none'} (killed: {active})"
        return act[0]
    successor = wait_for(f"the standby-replay MDS to take over from mds.{active}", taken_over,
                         timeout=target.cfg.timeouts.mds, interval=POLL)
    detect = time.monotonic() - killed_at
    lost = read_files_bounded(fs_root, files, timeout=target.cfg.timeouts.mds)
    more = data.write_files(fs_root, "fault-mds-after")  # the mount still takes writes
    files.update(more)
    restarted = time.monotonic()
    _restart(target, [f"mds.{active}"])
    wait_for("an active MDS and a standby-replay again", by_state, timeout=target.cfg.timeouts.mds,
             interval=POLL, fail_fast=target.fail_fast)
    recover = time.monotonic() - restarted
    lost += read_files_bounded(fs_root, files, timeout=target.cfg.timeouts.mds)
    return FaultReport(
        fault="mds_failover", injected=f"SIGKILL to the active MDS mds.{active}",
        detect_seconds=round(detect, 3), recover_seconds=round(recover, 3),
        checked={"files": len(files)}, lost=len(lost), lost_items=lost,
        notes=[f"mds.{successor} took over rank 0"])


def at_least(n: int, want: int) -> int:
    assert n >= want, f"{n} so far, waiting for {want}"
    return n


def read_files_bounded(root: Path | None, files: dict, timeout: float) -> list[str]:
    """Read files through a FUSE mount in a thread, so a hung mount fails instead of hanging."""
    if not root or not files:
        return []
    out: list[list[str]] = []
    worker = threading.Thread(target=lambda: out.append(data.read_files(root, files)), daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return [f"reading {len(files)} files through {root} hung for {timeout:.0f}s"]
    return out[0]
