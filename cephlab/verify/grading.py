"""The grade of a verify run: each stage's outcome checks over Ceph's JSON, and the one row
per stage the scenario results make (holds, does not hold, not reached, cannot check here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from .. import ceph_checks
from .. import stages as S
from ..stages import Stage

GRADES = ("holds", "does not hold", "not reached", "cannot check here")

#: Which step of the lab makes each stage's outcome, in the lab's own terms (lab spec), from
#: each stage's module.
LAB_STEPS: dict[str, str] = S.lab_steps()



# ---------------------------------------------------------------------------- grading
def stage_pools(slug: str) -> list[str]:
    """The pools a stage makes (from its module)."""
    return S.lab_pools([slug])


pool_owner = S.pool_owner


def assert_stage_health(slug: str, health: Mapping[str, Any], pg_ls: Mapping[str, Any],
                        pools: Iterable[Mapping[str, Any]]) -> None:
    """Health as one stage sees it: PG states are judged per pool, by the stage that makes
    the pool (a stage without pools of its own judges the pools no lab stage makes); every
    other health check counts for every stage."""
    names = {int(p.get("pool_id", p.get("pool", -1))): p["pool_name"] for p in pools}
    own = set(stage_pools(slug))
    bad: dict[str, list[str]] = {}
    for pg in pg_ls.get("pg_stats", pg_ls if isinstance(pg_ls, list) else []):
        if pg.get("state") == "active+clean":
            continue
        pool = names.get(int(str(pg["pgid"]).split(".")[0]), "?")
        owner = pool_owner(pool)
        if (own and pool in own) or (not own and owner is None):
            bad.setdefault(pool, []).append(f"{pg['pgid']} {pg['state']}")
    problems = [f"pool {p}: {len(v)} PGs not active+clean ({', '.join(v[:3])})" for p, v in sorted(bad.items())]
    other = {k: v for k, v in (health.get("checks") or {}).items() if not k.startswith("PG_")}
    try:
        ceph_checks.assert_health({"status": health.get("status") if other else "HEALTH_OK", "checks": other})
    except AssertionError as exc:
        problems.append(str(exc))
    assert not problems, "; ".join(problems)


def assert_osds_for(slug: str, applied: Sequence[str], dump: Mapping[str, Any],
                    tree: Mapping[str, Any], crush_host: Callable[[str], str]) -> None:
    layout = {crush_host(n): c for n, c in S.osd_layout(applied).items()}
    hosts = ceph_checks.osd_hosts(tree)
    problems = []
    if slug == "ceph_cluster":
        for osd, (up, inn) in sorted(ceph_checks.osd_states(dump).items()):
            if not (up and inn):
                problems.append(f"osd.{osd} is {'up' if up else 'down'} and {'in' if inn else 'out'}")
        problems += [f"host {h} holds no OSD" for h in layout if not hosts.get(h)]
    elif slug == "extend_storage":
        problems += [f"host {h} holds {len(hosts.get(h, []))} OSD(s), expected {n} (sdc and sdd)"
                     for h, n in sorted(layout.items()) if len(hosts.get(h, [])) != n]
    else:  # remove_node
        extra = sorted(h for h, ids in hosts.items() if ids and h not in layout)
        problems += [f"host {h} still holds {', '.join(f'osd.{i}' for i in hosts[h])}" for h in extra]
        problems += [f"host {h} holds no OSD" for h in layout if not hosts.get(h)]
    assert not problems, "; ".join(problems) + f" (the lab at this stage: {layout})"


def assert_status_agrees(status: Mapping[str, Any], dump: Mapping[str, Any], mons: int) -> None:
    """Toolbox in verify mode: ``ceph status`` agrees with ``ceph osd dump`` (how many OSDs
    exist, are up, are in) and counts the lab's mons; the OSD stages grade the layout."""
    states = ceph_checks.osd_states(dump)
    monmap, osdmap = status.get("monmap", {}), status.get("osdmap", {})
    osdmap = osdmap.get("osdmap", osdmap)
    seen = {"mons": monmap.get("num_mons"), "OSDs": osdmap.get("num_osds"),
            "OSDs up": osdmap.get("num_up_osds"), "OSDs in": osdmap.get("num_in_osds")}
    want = {"mons": mons, "OSDs": len(states), "OSDs up": sum(u for u, _ in states.values()),
            "OSDs in": sum(i for _, i in states.values())}
    wrong = [f"{k}: {seen[k]}, expected {want[k]}" for k in want if seen[k] != want[k]]
    assert not wrong, "ceph status disagrees with ceph osd dump: " + "; ".join(wrong)


@dataclass
class Grade:
    stage: Stage
    grade: str
    found: str = ""
    expected: str = ""
    lab_step: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.grade not in GRADES:
            raise ValueError(f"grade {self.grade!r} is not one of {', '.join(GRADES)}")

    def to_json(self) -> dict:
        return {"stage": f"{self.stage.key} {self.stage.slug}", "grade": self.grade,
                "found": self.found, "expected": self.expected, "lab_step": self.lab_step,
                "notes": list(self.notes)}


def grade(rows: Iterable, reached: Sequence[str], notes: Mapping[str, list[str]]) -> list[Grade]:
    """One grade per stage from the scenario rows (``cephlab.report.record.Row``)."""
    by_stage: dict[str, list] = {}
    for row in rows:
        by_stage.setdefault(row.stage.slug, []).append(row)
    out = []
    for stage in S.STAGES:
        rs = by_stage.get(stage.slug)
        if not rs:
            continue
        results = [(r.result, r.reason) for r in rs]
        extra = list(notes.get(stage.slug, []))
        failed = [why for res, why in results if res in ("failed", "error")]
        if failed:
            found, expected = _found_expected(failed[0])
            out.append(Grade(stage, "does not hold", found, expected or stage.title,
                             LAB_STEPS.get(stage.slug, ""), extra + failed[1:]))
        elif any(res == "passed" for res, _ in results):
            skipped = [f"not checked: {why}" for res, why in results if res == "skipped"]
            out.append(Grade(stage, "holds", notes=extra + skipped))
        elif stage.slug not in reached and any("not reached" in why for _, why in results):
            out.append(Grade(stage, "not reached", notes=[results[0][1]]))
        else:
            out.append(Grade(stage, "cannot check here", notes=[results[0][1]] + extra))
    return out


def _found_expected(message: str) -> tuple[str, str]:
    """Split a check's message "X, expected Y" into what was found and what is expected."""
    text = message.strip()
    if ", expected " in text:
        found, _, expected = text.partition(", expected ")
        return found, expected
    return text, ""


def grade_lines(grades: Sequence[Grade], width: int = 160) -> list[str]:
    lines = [f"{'stage':<22}{'grade':<20}what was found / what the lab expects / which step makes it"]
    for g in grades:
        lines.append(f"{g.stage.key + ' ' + g.stage.slug:<22}{g.grade:<20}")
        if g.grade == "does not hold":
            lines.append(f"{'':<22}  found:    {g.found[:width]}")
            lines.append(f"{'':<22}  expected: {g.expected[:width]}")
            lines.append(f"{'':<22}  lab step: {g.lab_step[:width]}")
        for note in g.notes:
            lines.append(f"{'':<22}  {note[:width]}")
    return lines


