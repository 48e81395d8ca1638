"""The disk-filling fault: the OSDs pushed past near-full, then full, by lowering the
cluster's ratios below their real usage (``ceph osd df``), not by writing gigabytes.

Ceph's promise, asserted here: past the near-full ratio the cluster warns (OSD_NEARFULL) and
still takes writes; past the full ratio it flags the OSDs and their pools full
(OSD_FULL, POOL_FULL), a client's write does not complete (librados waits; its own op
timeout ends it with ETIMEDOUT; CephFS answers ENOSPC), reads still work, and nothing
written before is lost. Restoring the ratios clears all of it.

The ratios the cluster had are recorded in the lab state (fact ``full_ratios``) before they
are lowered and dropped when they are restored, so a run killed in between is undone by the
next one (:func:`restore_leftover`).
"""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path
from typing import Any, Mapping, Optional

from .. import ceph_checks, data
from ..diagnose import FULL_RATIOS as ORDER, full_ratios as ratios
from ..errors import LabError
from ..model import BLOCK_POOL
from ..waits import wait_for
from .faults import FaultReport, read_files_bounded, wait_healthy

FACT = "full_ratios"
#: ``ceph osd set-<name>-ratio`` for each of ORDER (cephlab.diagnose.FULL_RATIOS); lowered in
#: that order, restored in reverse, so the three stay ordered at every step.
#: The client's own bound on a write (librados ``rados_osd_op_timeout``), in seconds: ten
#: times what the same write took at near-full (where Ceph still takes writes), at least
#: WRITE_BOUND_MIN and at most WRITE_BOUND; the CephFS write waits 3 x WRITE_BOUND.
WRITE_BOUND = 10
WRITE_BOUND_MIN = 3
WRITE_BOUND_FACTOR = 10


def write_bound(allowed_write_seconds: float) -> int:
    """The op timeout for the write that a full cluster must refuse: long enough that a slow
    machine's ordinary write would complete in it (ten times the one just before)."""
    return int(min(WRITE_BOUND, max(WRITE_BOUND_MIN, round(WRITE_BOUND_FACTOR * allowed_write_seconds))))


def usage(osd_df: Mapping[str, Any]) -> dict[int, float]:
    """``ceph osd df``: OSD id -> used fraction of its capacity (0..1), OSDs with a size."""
    return {int(n["id"]): float(n["kb_used"]) / float(n["kb"])
            for n in osd_df.get("nodes", []) if float(n.get("kb", 0)) > 0}


def lowered(used: Mapping[int, float], original: Mapping[str, float], stage: str) -> dict[str, float]:
    """The ratios that put every OSD past ``stage`` ("nearfull" or "full"): half the least
    used OSD's usage, so no OSD's growth during the fault can climb back under it. At
    near-full the other two stay as they were; at full all three sit below every OSD."""
    if not used:
        raise LabError("ceph osd df lists no OSD with a size: nothing to fill")
    least = min(used.values())
    if least < 0.002:
        raise LabError(f"the OSDs hold too little ({least:.4%} used) to push them past a ratio")
    edge = round(least / 2, 4)
    if stage == "nearfull":
        return {"nearfull": edge, "backfillfull": original["backfillfull"], "full": original["full"]}
    if stage == "full":
        return {"nearfull": round(edge * 0.8, 4), "backfillfull": round(edge * 0.9, 4), "full": edge}
    raise ValueError(f"unknown stage {stage!r}")


def set_ratios(ceph, want: Mapping[str, float], restoring: bool = False) -> None:
    for name in (reversed(ORDER) if restoring else ORDER):
        ceph.run("osd", f"set-{name}-ratio", str(want[name]))


def restore(target) -> None:
    """Put back the ratios recorded before they were lowered, and forget them."""
    saved = target.state.get(FACT)
    if saved:
        set_ratios(target.ceph, saved, restoring=True)
        target.state.remove(FACT)


def restore_leftover(target) -> Optional[str]:
    """Ratios a killed or failed run left lowered are restored; says what it did."""
    saved = target.state.get(FACT)
    if not saved:
        return None
    set_ratios(target.ceph, saved, restoring=True)
    target.state.remove(FACT)
    return ("restored the full ratios an earlier run left lowered: "
            + ", ".join(f"{k} {saved[k]}" for k in ORDER))


def disk_full(target, rows=None, fs_root: Optional[Path] = None) -> FaultReport:
    ceph, cfg = target.ceph, target.cfg
    wait_healthy(target, "a healthy lab before filling its disks")
    objects = data.write_objects(ceph, BLOCK_POOL, "fault-full")
    files = data.write_files(fs_root, "fault-full") if fs_root else {}
    rows_before = rows() if rows else []
    original = ratios(ceph.json("osd", "dump"))
    used = usage(ceph.json("osd", "df"))
    near, full = lowered(used, original, "nearfull"), lowered(used, original, "full")
    notes = [f"usage {', '.join(f'osd.{i} {u:.2%}' for i, u in sorted(used.items()))}; ratios "
             f"{_fmt(original)} lowered to {_fmt(near)}, then {_fmt(full)}"]
    target.state.put(FACT, original)
    try:
        set_ratios(ceph, near)
        lowered_at = time.monotonic()
        flagged = wait_for("OSD_NEARFULL raised once the near-full ratio is below the OSDs' usage",
                           lambda: _raised(ceph, "OSD_NEARFULL"), timeout=cfg.timeouts.osds_up,
                           interval=0.5)
        detect = time.monotonic() - lowered_at
        notes.append(f"OSD_NEARFULL after {detect:.1f}s: {flagged}")
        started = time.monotonic()
        res = _put(ceph, "fault-full-at-nearfull", os.urandom(4096))
        bound = write_bound(time.monotonic() - started)
        assert res.rc == 0, f"a write failed at near-full, where Ceph only warns: {res.stderr.strip()[:300]}"

        set_ratios(ceph, full)
        full_at = time.monotonic()
        flagged = wait_for("OSD_FULL raised and the pools flagged full", lambda: _full(ceph),
                           timeout=cfg.timeouts.osds_up, interval=0.5)
        notes.append(f"OSD_FULL after {time.monotonic() - full_at:.1f}s: {flagged}")
        notes.append(_write_refused(ceph, bound))
        if fs_root:
            notes.append(_file_write_refused(fs_root, timeout=WRITE_BOUND * 3))
        lost = data.read_objects(ceph, BLOCK_POOL, objects)
        lost += read_files_bounded(fs_root, files, timeout=cfg.timeouts.mds)
        if not lost:
            notes.append("every object and file written before read back while full")
    finally:
        restore(target)
    restored_at = time.monotonic()
    wait_healthy(target, "health back after the full ratios were restored "
                         "(no OSD_NEARFULL, OSD_FULL, POOL_FULL)")
    recover = time.monotonic() - restored_at
    after = os.urandom(4096)
    res = _put(ceph, "fault-full-blocked", after)
    assert res.rc == 0, f"a write still fails after the ratios were restored: {res.stderr.strip()[:300]}"
    objects["fault-full-blocked"] = data.sha256(after)
    if fs_root:
        (fs_root / "fault-full-refused.bin").unlink(missing_ok=True)
    lost += data.read_objects(ceph, BLOCK_POOL, objects)
    lost += read_files_bounded(fs_root, files, timeout=cfg.timeouts.mds)
    rows_after = rows() if rows else []
    if rows_after != rows_before:
        lost.append(f"MySQL rows differ after the disks were full ({len(rows_after)} of {len(rows_before)})")
    return FaultReport(
        fault="disk_full", injected=f"full ratios lowered below the usage of every OSD "
                                    f"({', '.join(f'osd.{i}' for i in sorted(used))})",
        detect_seconds=round(detect, 3), recover_seconds=round(recover, 3),
        checked={"objects": len(objects), "files": len(files), "rows": len(rows_before)},
        lost=len(lost), lost_items=lost, notes=notes)


def _fmt(r: Mapping[str, float]) -> str:
    return "/".join(f"{r[k]:g}" for k in ORDER)


def _raised(ceph, check: str) -> str:
    found = ceph_checks.health_checks(ceph.json("health", "detail"))
    assert check in found, f"health checks: {', '.join(sorted(found)) or 'none'}"
    return f"{check}: {found[check]}"


def _full(ceph) -> str:
    said = _raised(ceph, "OSD_FULL")
    dump = ceph.json("osd", "dump")
    pools = {p["pool_name"]: p.get("flags_names", "").split(",") for p in dump.get("pools", [])}
    not_full = [name for name, flags in pools.items() if "full" not in flags]
    assert not not_full, f"{said}; pools not flagged full: {', '.join(not_full)}"
    return f"{said}; pools flagged full: {', '.join(sorted(pools))}"


def _put(ceph, name: str, blob: bytes, bound: int = 0):
    extra = ["--rados-osd-op-timeout", str(bound)] if bound else []
    return ceph.run(*extra, "-p", BLOCK_POOL, "put", name, "-", tool="rados", stdin=blob,
                    check=False, timeout=(bound or 60) + 30)


def _write_refused(ceph, bound: int) -> str:
    """A write with a bound (the client's own op timeout) must not complete."""
    started = time.monotonic()
    res = _put(ceph, "fault-full-blocked", os.urandom(4096), bound=bound)
    waited = time.monotonic() - started
    said = res.stderr.strip().splitlines()[-1:] or [""]
    assert res.rc != 0, f"a write completed on a full cluster in {waited:.1f}s"
    refused = [f"({errno.ETIMEDOUT})", f"({errno.ENOSPC})", f"({errno.EDQUOT})"]
    assert any(code in said[0] for code in refused), \
        f"the write on a full cluster failed otherwise than by waiting or ENOSPC: {said[0]!r}"
    return f"a write bounded at {bound}s waited {waited:.1f}s without completing: {said[0]}"


def _file_write_refused(root: Path, timeout: float) -> str:
    """A CephFS write (fsync'd) must not complete: ENOSPC, or still waiting at the bound."""
    path = root / "fault-full-refused.bin"
    out: list[str] = []

    def write():
        try:
            with open(path, "wb") as fh:
                fh.write(os.urandom(65536))
                fh.flush()
                os.fsync(fh.fileno())
            out.append("completed")
        except OSError as exc:
            out.append(f"{errno.errorcode.get(exc.errno, exc.errno)}: {exc.strerror}")
    worker = threading.Thread(target=write, daemon=True)
    worker.start()
    worker.join(timeout)
    result = out[0] if out else f"still waiting after {timeout:.0f}s"
    assert result != "completed", "a CephFS write completed on a full cluster"
    return f"a CephFS write did not complete: {result}"
