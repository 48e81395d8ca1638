"""The network partition fault: one node cut off from the other two while clients work.

k8s-3's daemons (mon, OSD, MDS) keep running but reach no daemon of k8s-1 or k8s-2, and no
daemon there reaches them (:mod:`cephlab.local.nft`). Asserted while cut off: the other two
mons keep a quorum without it, the mon of k8s-3 itself says it is out of quorum, its OSDs
are marked down by their peers' failure reports (the cluster log says so), and writes go
on. Then the partition is healed and k8s-3 must rejoin: its mon in quorum, its OSDs up, every
PG active+clean, and every object, row and file written before and during reads back
identical.

Healing is only removing the rules. How long the rest takes is Ceph's (and TCP's): a
connection attempt made during the partition is retried by the kernel with exponential
backoff (SYN retransmissions, ``net.ipv4.tcp_syn_retries``), and the messenger waits for it,
so the isolated mon can need a minute after the heal to reach its peers.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Optional

from .. import ceph_checks, data
from ..model import BLOCK_POOL, FS_DATA, FS_METADATA, FS_NAME, NODES
from ..waits import wait_for
from .faults import FaultReport, Writer, at_least, osd_down, osds_of, read_files_bounded, wait_healthy
from .nft import Partition

ROWS = 100  #: MySQL rows written before, and again during, the partition
ROWS_TABLE = "faults.rows_partition"
#: The mon's states while it cannot reach a quorum (it keeps probing and calling elections).
OUT_OF_QUORUM = ("probing", "electing", "synchronizing")


def network_partition(target, node: str = NODES[-1], db=None,
                      fs_root: Optional[Path] = None) -> FaultReport:
    ceph, cfg = target.ceph, target.cfg
    others = [n for n in cfg.nodes if n != node]
    osds = osds_of(target, node)
    wait_healthy(target, f"a healthy lab before cutting {node} off")

    objects = data.write_objects(ceph, BLOCK_POOL, f"fault-partition-{node}")
    files = data.write_files(fs_root, f"fault-partition-{node}") if fs_root else {}
    rows = _rows_start(db) if db else {}
    writer = Writer(ceph, BLOCK_POOL, "fault-partition-writes")
    partition = Partition(cfg.lab_dir)
    notes: list[str] = []
    # The harness holds k8s-3's OSDs down until they rejoin: waits must not fail fast on
    # an OSD that is down while its process runs (that is the fault).
    with target.holding(down=osds):
        detect, recover, rejoin, lost = _cut_and_heal(
            target, node, others, osds, writer, partition, objects, files, rows, db, fs_root, notes)
    notes.append(f"{node} back in quorum with its OSDs up {rejoin:.1f}s after the heal")
    notes += writer.errors
    lost += data.read_objects(ceph, BLOCK_POOL, objects)
    lost += data.read_objects(ceph, BLOCK_POOL, writer.written)
    lost += read_files_bounded(fs_root, files, timeout=cfg.timeouts.mds)
    if db:
        lost += _rows_lost(db, rows)
    return FaultReport(
        fault="network_partition",
        injected=f"{node} ({cfg.loopback_ip(node)}) cut off from {', '.join(others)} by nftables "
                 f"while a client wrote",
        detect_seconds=round(detect, 3), recover_seconds=round(recover, 3),
        checked={"objects": len(objects) + len(writer.written), "files": len(files),
                 "rows": len(rows)},
        lost=len(lost), lost_items=lost, notes=notes)


def _cut_and_heal(target, node, others, osds, writer, partition, objects, files, rows, db,
                  fs_root, notes):
    ceph, cfg = target.ceph, target.cfg
    osd_names = [f"osd.{i}" for i in osds]
    writer.start()
    try:
        wait_for("the client's first writes", lambda: at_least(len(writer.written), 3),
                 timeout=60, interval=0.2)
        partition.isolate(cfg.loopback_ip(node), [cfg.loopback_ip(n) for n in others])
        cut_at = time.monotonic()

        def noticed():
            ceph_checks.assert_quorum(ceph.json("quorum_status"), others)
            osd_down(ceph, osds)
        wait_for(f"{node} cut off: quorum of {', '.join(others)} without it, "
                 f"{', '.join(osd_names)} marked down", noticed,
                 timeout=cfg.timeouts.osds_up, interval=0.5)
        detect = time.monotonic() - cut_at
        quorum = ceph.json("quorum_status")["quorum_names"]
        assert node not in quorum and sorted(quorum) == sorted(others), \
            f"quorum is {quorum} with {node} cut off"
        own = _mon_own_state(target, node)
        assert own in OUT_OF_QUORUM, f"mon.{node} says it is {own!r} while cut off"
        notes.append(f"quorum while cut off: {', '.join(quorum)}; mon.{node} says {own}")
        for i in osds:
            notes.append(_marked_down_by_peers(ceph, i))
        wait_for(f"writes to go on with {node} cut off",
                 lambda: at_least(writer.writes_after(cut_at + detect), 5),
                 timeout=cfg.timeouts.osds_up, interval=0.5)
        lost = data.read_objects(ceph, BLOCK_POOL, objects)
        lost += read_files_bounded(fs_root, files, timeout=cfg.timeouts.mds)
        if fs_root:
            files.update(data.write_files(fs_root, f"fault-partition-{node}-during"))
        if db:
            rows.update(_rows_add(db, start=ROWS))
    finally:
        writer.stop_event.set()
        writer.join(timeout=180)
        partition.heal()
    healed_at = time.monotonic()

    def rejoined():
        ceph_checks.assert_quorum(ceph.json("quorum_status"), list(cfg.nodes))
        ceph_checks.assert_osds(ceph.json("osd", "dump"), ceph.json("osd", "tree"),
                           target.daemons.expected_layout())
    wait_for(f"{node} to rejoin after the partition healed: mon.{node} in quorum, "
             f"{', '.join(osd_names)} up", rejoined, timeout=cfg.timeouts.health, interval=0.5,
             fail_fast=target.fail_fast)
    rejoin = time.monotonic() - healed_at
    wait_healthy(target, f"HEALTH_OK and all PGs active+clean after {node} rejoined")
    if fs_root:
        wait_for("an active MDS and a standby-replay again", lambda: _fs_ready(ceph),
                 timeout=cfg.timeouts.mds, interval=0.5, fail_fast=target.fail_fast)
    recover = time.monotonic() - healed_at
    notes.append(f"{writer.writes_after(cut_at)} writes completed while cut off")
    return detect, recover, rejoin, lost


def _mon_own_state(target, node: str) -> str:
    """What the isolated mon says of itself, through its admin socket (no network)."""
    asok = target.cfg.lab_dir / "run" / f"ceph-mon.{node}.asok"
    return target.ceph.json("--admin-daemon", str(asok), "mon_status", timeout=15)["state"]


def _marked_down_by_peers(ceph, osd: int) -> str:
    """The cluster log's line for the OSD's failure must name its reporters (its peers'
    heartbeats), not a missed beacon to the mons."""
    entries = ceph.json("log", "last", "1000", "info", "cluster")
    said = [e.get("message", "") for e in entries if re.match(rf"osd\.{osd} (failed|marked down)",
                                                               e.get("message", ""))]
    assert said, f"the cluster log has no line of osd.{osd} failing"
    last = said[-1]
    assert "reporters" in last, f"osd.{osd} was not marked down by its peers: {last!r}"
    return last


def _fs_ready(ceph) -> None:
    ceph_checks.assert_filesystem(ceph.json("fs", "status", FS_NAME), metadata_pool=FS_METADATA,
                             data_pools=[FS_DATA])


def _rows_start(db) -> dict[int, str]:
    with db.connect(autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS faults")
        cur.execute(f"DROP TABLE IF EXISTS {ROWS_TABLE}")
        cur.execute(f"CREATE TABLE {ROWS_TABLE} (id INT PRIMARY KEY, v CHAR(32))")
    return _rows_add(db, start=0)


def _rows_add(db, start: int) -> dict[int, str]:
    rows = {start + i: os.urandom(16).hex() for i in range(ROWS)}
    with db.connect(autocommit=True, read_timeout=120, write_timeout=120) as conn, conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {ROWS_TABLE} VALUES (%s, %s)", list(rows.items()))
    return rows


def _rows_lost(db, rows: dict[int, str]) -> list[str]:
    with db.connect(autocommit=True, read_timeout=120) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT id, v FROM {ROWS_TABLE}")
        found = dict(cur.fetchall())
    return [f"MySQL row {ROWS_TABLE} id {i}" + (" (missing)" if i not in found else " (differs)")
            for i, v in rows.items() if found.get(i) != v]
