"""How far the lab got: the stages a learner who reached a stage has done, the evidence
each stage's module reads, and the lab state verify mode stands in with."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence

from .. import stages as S
from ..ceph import CephRunner
from ..config import LabConfig
from ..evidence import NoCeph, Probe
from ..stages import Stage
from ..state import LabState
from ..targets import Target, make_target, why_not
from .readonly import ReadOnlyTarget
from .rules import VerifyRefused


# ---------------------------------------------------------------------------- progress
def reached_stages(reached: Optional[str], runs_here: Callable[[Stage], bool]) -> list[str]:
    """The stages a learner who got to ``reached`` has done: every stage of the lab up to it,
    in the lab's order, that runs on this target (faults is not a step of the lab)."""
    if reached is None:
        return []
    last = S.get(reached).order
    return [s.slug for s in S.STAGES if s.order <= last and s.slug != "faults" and runs_here(s)]


def evidence(target: Target, ceph: CephRunner) -> dict[str, str]:
    """Stage slug -> what shows the stage was done (read-only probes; a stage without
    evidence is absent), as each stage's module reads it (``evidence(probe)``). Cheap signs,
    not the outcome: the grade checks the outcome. Where no Ceph answers, the Ceph stages
    have none and "(ceph)" says why."""
    probe = Probe(ceph, target.endpoint, target.crush_host)
    found: dict[str, str] = {}
    for stage in S.STAGES:
        sign = getattr(S.module(stage), "evidence", None)
        if sign is None:
            continue
        try:
            shown = sign(probe)
        except NoCeph:
            continue
        if shown:
            found[stage.slug] = shown
    if probe.ceph_error:
        found["(ceph)"] = probe.ceph_error
    return found


def detect_reached(target: Target, ceph: CephRunner, runs_here: Callable[[Stage], bool]
                   ) -> tuple[Optional[str], dict[str, str]]:
    """The furthest stage (in the lab's order, among those that run here) with evidence."""
    found = evidence(target, ceph)
    ordered = [s for s in S.STAGES if s.slug in found and runs_here(s)]
    found = {k: v for k, v in found.items() if k in S.BY_SLUG or k == "(ceph)"}
    return (ordered[-1].slug if ordered else None), found


# ---------------------------------------------------------------------------- the state
class ReachedState(LabState):
    """The lab's state, read only; "applied" means reached (``stages``)."""

    def __init__(self, lab_dir: Path, options, stages: Sequence[str] = ()):
        super().__init__(lab_dir, options)
        self.reached = list(stages)

    def applied(self, slug: str) -> bool:
        return slug in self.reached

    def applied_slugs(self) -> list[str]:
        return list(self.reached)

    def save(self) -> None:
        """Nothing is written; a save that would change nothing (a pre-flight re-recording
        what the state already says) is let pass, any other is refused."""
        import json

        on_disk = json.loads(self.path.read_text()) if self.path.exists() else None
        if on_disk != self.doc:
            raise VerifyRefused(f"verify mode does not write the lab state ({self.path})")

    def mark_applied(self, slug: str, seconds: float) -> None:
        raise VerifyRefused(f"verify mode does not mark stage {slug} applied")

    def put(self, key, value, *, save: bool = True) -> None:
        """A fact re-recorded as the state already has it (the pre-flight's Ceph release)
        passes; any other is refused."""
        if self.has(key) and self.get(key) == value:
            return
        raise VerifyRefused(f"verify mode does not record lab fact {key}")

    def remove(self, key) -> None:
        raise VerifyRefused(f"verify mode does not forget lab fact {key}")

    def begin(self, kind: str, name: str) -> None:
        raise VerifyRefused(f"verify mode does not begin {kind} {name}")



def open_readonly(cfg: LabConfig, target_class: type[Target]) -> tuple[ReachedState, ReadOnlyTarget]:
    """The state and target of a verify run; the reached stages are set by :func:`settle`."""
    state = ReachedState(cfg.lab_dir, cfg.options())
    # the abstract methods are there: _from_tables fills them in from the tables, and
    # tests/test_verify.py checks that every method of the contract is
    return state, ReadOnlyTarget(make_target(cfg, state), cfg.verify_readonly)  # type: ignore[abstract]


def settle(cfg: LabConfig, state: ReachedState, target: ReadOnlyTarget, announce) -> Optional[str]:
    """Fix the reached stage (given, or detected) and tell the state; returns it."""
    runs_here = lambda st: why_not(cfg.target, st, cfg) is None  # noqa: E731
    reached: Optional[str]
    if cfg.reached:
        reached, how = cfg.reached, "given with --lab-reached"
    else:
        reached, found = detect_reached(target.inner, target.ceph, runs_here)
        how = ("found: furthest stage with evidence; " +
               ", ".join(f"{k} ({v})" for k, v in found.items())) if found else "nothing of the lab was found"
    state.reached = reached_stages(reached, runs_here)
    announce(f"verify mode: the lab reached stage {reached or 'none'} ({how}); "
             f"nothing will be changed")
    return reached


