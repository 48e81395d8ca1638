"""Pure assertion functions over Ceph's own JSON (``ceph … -f json``).

Each ``assert_*`` takes parsed JSON (and what is expected), returns something useful when
the expectation holds, and raises ``AssertionError`` with a message naming what is wrong
when it does not. They do no I/O, so the same code checks a local cluster and a Rook
cluster, serves as a wait probe, and is tested on recorded JSON samples.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping, Optional

#: Health checks a stage may leave behind on purpose, with the reason. Nothing else is
#: accepted: any other warning fails the health assertion.
ACCEPTED_WARNINGS: dict[str, str] = {
    "POOL_PG_NUM_NOT_POWER_OF_TWO":
        "stage pg_num sets pg_num 150 on two pools, as the lab does; Ceph warns that 150 is "
        "not a power of two",
}

#: Error notifications of the Ceph dashboard that a page of the lab may raise, each with why
#: it is accepted (a regular expression over "title: message"). Every other error
#: notification fails the dashboard's checks: the landing page must not show a 500.
ACCEPTED_DASHBOARD_ERRORS: dict[str, str] = {
    r"Could not reach Prometheus's API":
        "the lab runs no Prometheus server (the 2018 lab had none either); the Overview's "
        "utilization graphs ask the dashboard for Prometheus data, which answers 404",
}


def dashboard_errors(notifications: Iterable[Mapping[str, Any]],
                     accepted: Optional[Mapping[str, str]] = None) -> list[str]:
    """The dashboard's error notifications (its cdNotifications, type 0) that are not
    accepted, as "title: message"."""
    accepted = ACCEPTED_DASHBOARD_ERRORS if accepted is None else accepted
    found = []
    for note in notifications:
        if note.get("type") != 0:  # 0 error, 1 info, 2 success, 3 warning
            continue
        text = f"{note.get('title', '')}: {note.get('message', '')}".strip()
        if not any(re.search(pattern, text) for pattern in accepted):
            found.append(text)
    return found


# ---------------------------------------------------------------------------- mons, mgr
def assert_quorum(quorum_status: Mapping[str, Any], mons: Iterable[str]) -> list[str]:
    """Every mon in ``mons`` is in quorum. Returns the quorum names."""
    in_quorum = list(quorum_status.get("quorum_names", []))
    missing = sorted(set(mons) - set(in_quorum))
    assert not missing, (
        f"mons not in quorum: {', '.join(missing)} (quorum: {', '.join(in_quorum) or 'none'})")
    return in_quorum


def assert_active_mgr(mgr_stat: Mapping[str, Any]) -> str:
    """``ceph mgr stat``: a mgr is active and available. Returns its name."""
    name = mgr_stat.get("active_name") or ""
    assert name and mgr_stat.get("available"), (
        f"no active mgr available (active_name={name!r}, available={mgr_stat.get('available')})")
    return name


def assert_status_counts(status: Mapping[str, Any], *, mons: int, osds: int) -> None:
    """``ceph status``: the mon count and OSD counts (total, up, in) are as expected."""
    monmap, osdmap = status.get("monmap", {}), status.get("osdmap", {})
    # pacific and later put the OSD counts at the top of osdmap; older releases nested them.
    osdmap = osdmap.get("osdmap", osdmap)
    seen = {"mons": monmap.get("num_mons"), "OSDs": osdmap.get("num_osds"),
            "OSDs up": osdmap.get("num_up_osds"), "OSDs in": osdmap.get("num_in_osds")}
    want = {"mons": mons, "OSDs": osds, "OSDs up": osds, "OSDs in": osds}
    wrong = [f"{k}: {seen[k]}, expected {want[k]}" for k in want if seen[k] != want[k]]
    assert not wrong, "ceph status disagrees with the lab: " + "; ".join(wrong)


def parse_osd_status(text: str) -> dict[int, str]:
    """``ceph osd status`` (a table even when JSON is asked for, on pacific): id -> state."""
    rows: dict[int, str] = {}
    for line in text.splitlines():
        cols = line.split()
        if cols and cols[0].isdigit():
            rows[int(cols[0])] = cols[-1]
    return rows


def assert_osd_status(text: str, osd_ids: Iterable[int]) -> dict[int, str]:
    """Every expected OSD is listed ``exists,up`` and no other OSD is listed."""
    rows = parse_osd_status(text)
    want = set(osd_ids)
    problems = [f"osd.{i} missing" for i in sorted(want - set(rows))]
    problems += [f"osd.{i} listed but not expected" for i in sorted(set(rows) - want)]
    problems += [f"osd.{i} is {st}" for i, st in sorted(rows.items())
                 if i in want and set(st.split(",")) != {"exists", "up"}]
    assert not problems, "ceph osd status: " + "; ".join(problems)
    return rows


def assert_df_agrees(df: Mapping[str, Any], rados_df: Mapping[str, Any],
                     pools: Iterable[str], osds: int) -> None:
    """``ceph df`` and ``rados df`` both list ``pools`` (built-in pools such as the mgr's may
    come on top), list the same pools, agree on each pool's object count, and ``ceph df``
    counts ``osds`` OSDs."""
    want = set(pools)
    df_pools = {p["name"]: p.get("stats", {}).get("objects") for p in df.get("pools", [])}
    rados_pools = {p["name"]: p.get("num_objects") for p in rados_df.get("pools", [])}
    problems = []
    for label, have in (("ceph df", df_pools), ("rados df", rados_pools)):
        if not want <= set(have):
            problems.append(f"{label} lacks pools {sorted(want - set(have))} (lists {sorted(have)})")
    if set(df_pools) != set(rados_pools):
        problems.append(f"ceph df lists {sorted(df_pools)}, rados df lists {sorted(rados_pools)}")
    for name in sorted(want & set(df_pools) & set(rados_pools)):
        if df_pools[name] != rados_pools[name]:
            problems.append(f"pool {name}: ceph df counts {df_pools[name]} objects, "
                            f"rados df {rados_pools[name]}")
    if df.get("stats", {}).get("num_osds") != osds:
        problems.append(f"ceph df counts {df.get('stats', {}).get('num_osds')} OSDs, expected {osds}")
    assert not problems, "; ".join(problems)


# ---------------------------------------------------------------------------- OSDs
def osd_hosts(osd_tree: Mapping[str, Any]) -> dict[str, list[int]]:
    """``ceph osd tree``: host bucket name -> OSD ids under it."""
    nodes = {n["id"]: n for n in osd_tree.get("nodes", [])}
    hosts: dict[str, list[int]] = {}
    for node in nodes.values():
        if node.get("type") == "host":
            hosts[node["name"]] = sorted(c for c in node.get("children", []) if c >= 0)
    return hosts


def osd_states(osd_dump: Mapping[str, Any]) -> dict[int, tuple[bool, bool]]:
    """``ceph osd dump``: OSD id -> (up, in)."""
    return {o["osd"]: (bool(o.get("up")), bool(o.get("in"))) for o in osd_dump.get("osds", [])}


def assert_osds(osd_dump: Mapping[str, Any], osd_tree: Mapping[str, Any],
                layout: Mapping[str, int]) -> dict[str, list[int]]:
    """Every OSD is up and in, and each CRUSH host holds exactly ``layout[host]`` of them.

    Hosts not in ``layout`` must hold no OSDs. Returns host -> OSD ids.
    """
    states = osd_states(osd_dump)
    problems = []
    for osd, (up, inn) in sorted(states.items()):
        if not (up and inn):
            problems.append(f"osd.{osd} is {'up' if up else 'down'} and {'in' if inn else 'out'}")
    expected_total = sum(layout.values())
    if len(states) != expected_total:
        problems.append(f"{len(states)} OSDs exist, expected {expected_total}")
    hosts = osd_hosts(osd_tree)
    for host in sorted(set(hosts) | set(layout)):
        have, want = len(hosts.get(host, [])), layout.get(host, 0)
        if have != want:
            problems.append(f"host {host} holds {have} OSDs, expected {want}")
    assert not problems, "; ".join(problems)
    return hosts


def assert_safe_to_destroy(result: Mapping[str, Any], ids: Iterable[int]) -> None:
    """``ceph osd safe-to-destroy IDS``: all of them are safe."""
    safe = set(result.get("safe_to_destroy", []))
    unsafe = sorted(set(ids) - safe)
    assert not unsafe, (
        "not yet safe to destroy: " + ", ".join(f"osd.{i}" for i in unsafe) +
        f" (active: {result.get('active', [])}, missing stats: {result.get('missing_stats', [])}, "
        f"stored PGs: {len(result.get('stored_pgs', []))})")


# ---------------------------------------------------------------------------- health
def health_checks(health: Mapping[str, Any]) -> dict[str, str]:
    """``ceph health detail``: check code -> summary message."""
    return {code: (c.get("summary", {}) or {}).get("message", "")
            for code, c in (health.get("checks") or {}).items()}


def assert_health(health: Mapping[str, Any],
                  accepted: Optional[Mapping[str, str]] = None) -> str:
    """HEALTH_OK, or HEALTH_WARN made only of accepted checks. Returns the status."""
    accepted = ACCEPTED_WARNINGS if accepted is None else accepted
    status = health.get("status", "UNKNOWN")
    checks = health_checks(health)
    unexpected = {c: m for c, m in checks.items() if c not in accepted}
    if status == "HEALTH_ERR":
        unexpected = unexpected or checks
    assert status in ("HEALTH_OK", "HEALTH_WARN") and not unexpected, (
        f"{status}: " + "; ".join(f"{c}: {m}" for c, m in sorted(unexpected.items())))
    return status


def assert_pgs_clean(status: Mapping[str, Any]) -> int:
    """``ceph status``: every PG active+clean. Returns the PG count."""
    pgmap = status.get("pgmap", {})
    total = pgmap.get("num_pgs", 0)
    clean = sum(s["count"] for s in pgmap.get("pgs_by_state", [])
                if s.get("state_name") == "active+clean")
    others = [f"{s['count']} {s['state_name']}" for s in pgmap.get("pgs_by_state", [])
              if s.get("state_name") != "active+clean"]
    assert total > 0 and clean == total, (
        f"{clean}/{total} PGs active+clean" + (f"; others: {', '.join(others)}" if others else ""))
    return total


# ---------------------------------------------------------------------------- pools
def pool_by_name(pools: Iterable[Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    """``ceph osd pool ls detail``: the pool called ``name``."""
    pools = list(pools)
    for pool in pools:
        if pool.get("pool_name") == name:
            return pool
    raise AssertionError(f"pool {name!r} does not exist (pools: "
                         f"{', '.join(p.get('pool_name', '?') for p in pools) or 'none'})")


def assert_pool(pools: Iterable[Mapping[str, Any]], name: str, *, size: Optional[int] = None,
                pg_num: Optional[int] = None, replicated: bool = True,
                application: Optional[str] = None,
                autoscale: Optional[str] = None) -> Mapping[str, Any]:
    """The pool exists with the given properties (type 1 is replicated in Ceph's JSON)."""
    pool = pool_by_name(pools, name)
    problems = []
    if replicated and pool.get("type") != 1:
        problems.append(f"type {pool.get('type')} (not replicated)")
    if size is not None and pool.get("size") != size:
        problems.append(f"size {pool.get('size')}, expected {size}")
    if pg_num is not None and pool.get("pg_num") != pg_num:
        problems.append(f"pg_num {pool.get('pg_num')}, expected {pg_num}")
    if application is not None and application not in (pool.get("application_metadata") or {}):
        problems.append(f"application {application!r} not enabled "
                        f"(has {sorted(pool.get('application_metadata') or {})})")
    if autoscale is not None and pool.get("pg_autoscale_mode") != autoscale:
        problems.append(f"pg_autoscale_mode {pool.get('pg_autoscale_mode')}, expected {autoscale}")
    assert not problems, f"pool {name}: " + "; ".join(problems)
    return pool


def assert_pg_num_settled(pools: Iterable[Mapping[str, Any]], name: str, pg_num: int) -> None:
    """pg_num *and* pgp_num reached ``pg_num`` (Ceph moves pgp_num there step by step).

    In the JSON pgp_num is ``pg_placement_num``."""
    pool = pool_by_name(pools, name)
    pgp = pool.get("pg_placement_num")
    assert pool.get("pg_num") == pg_num and pgp == pg_num, (
        f"pool {name}: pg_num {pool.get('pg_num')}, pgp_num {pgp}, target {pg_num}")


# ---------------------------------------------------------------------------- CephFS
def assert_filesystem(fs_status: Mapping[str, Any], *, metadata_pool: str, data_pools: list[str],
                      active: int = 1, standby_replay: int = 1) -> dict[str, list[str]]:
    """``ceph fs status FS``: pools as named; ``active`` ranks active and ``standby_replay``
    standby-replay daemons. Returns state -> daemon names."""
    by_state: dict[str, list[str]] = {}
    for mds in fs_status.get("mdsmap", []):
        by_state.setdefault(mds.get("state", "?"), []).append(mds.get("name", "?"))
    pools = {p.get("name"): p.get("type") for p in fs_status.get("pools", [])}
    problems = []
    if pools.get(metadata_pool) != "metadata":
        problems.append(f"metadata pool {metadata_pool} missing (pools: {pools})")
    for dp in data_pools:
        if pools.get(dp) != "data":
            problems.append(f"data pool {dp} missing (pools: {pools})")
    if len(by_state.get("active", [])) != active:
        problems.append(f"{len(by_state.get('active', []))} active MDS, expected {active}")
    if len(by_state.get("standby-replay", [])) != standby_replay:
        problems.append(f"{len(by_state.get('standby-replay', []))} standby-replay MDS, "
                        f"expected {standby_replay}")
    assert not problems, "; ".join(problems) + f" (MDS by state: {by_state})"
    return by_state


# ---------------------------------------------------------------------------- capacity
def raw_capacity(df: Mapping[str, Any]) -> int:
    """``ceph df``: total raw bytes."""
    return int(df.get("stats", {}).get("total_bytes", 0))


def assert_capacity_grew(before: int, after: int, factor: float) -> float:
    assert before > 0, f"no raw capacity recorded before the change (got {before})"
    ratio = after / before
    assert ratio >= factor, (
        f"raw capacity grew {ratio:.2f}x ({before} → {after} bytes), expected at least {factor}x")
    return ratio
