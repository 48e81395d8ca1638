"""How the steps judge the lab, in one place per mode: the ``judge`` fixture.

Build mode (:class:`BuildJudge`) judges a lab the harness brought to the stage: the lab
model says exactly what must be there, and the data round trips write under fresh names.
Verify mode (:class:`VerifyJudge`, ``--lab-mode=verify``) grades a lab someone built by hand
and changes nothing of theirs: each stage judges its own part of what the reached stage
has, data round trips write under the scratch names they remove, what cannot be checked
without a change is a note in the grade, and a change is refused. The steps ask the judge and
never ask which mode runs.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Optional

from . import ceph_checks, model, stages, verify, waits
from .ceph import CephRunner


class BuildJudge:
    """The lab was built to the stage by this harness."""

    verifying = False

    def __init__(self, lab):
        self.lab = lab

    @property
    def applied(self) -> list[str]:
        return self.lab.state.applied_slugs()

    # ------------------------------------------------------------------ waits
    def wait(self, timeout: float) -> tuple[float, Callable[[], None]]:
        """A step's wait: how long it may poll, and its fail-fast (the lab's target's: a
        cause that cannot heal ends the wait at once)."""
        return timeout, self.lab.target.fail_fast

    # ------------------------------------------------------------------ writes
    def name(self, kind: str, prefix: str, length: int = 10) -> str:
        """A fresh name for what a data round trip of ``kind`` writes."""
        return f"{prefix}-{uuid.uuid4().hex[:length]}"

    def writes(self, kind: str) -> None:
        """A data round trip of ``kind`` is about to write (build mode may)."""

    def database(self) -> str:
        """The database the rows round trip writes to: the lab's own."""
        return "ghost"

    def cleanup(self, request, remove: Callable[[], Any]) -> None:
        """What a round trip wrote and the lab keeps for its reader (build mode keeps it)."""

    def change(self, why: str) -> None:
        """A step is about to change the lab; ``why`` says how (build mode may)."""

    def restart(self, service: str, what: str) -> None:
        """Restart ``service``, to show that ``what`` survives it."""
        self.lab.target.restart(service)

    def too_late_to_write(self, slug: str) -> bool:
        """Data written before ``slug`` is written now (False), unless the lab is past it."""
        return False

    def nothing_recorded(self, slug: str) -> bool:
        """No data was recorded as written before ``slug``: a defect of the run."""
        raise AssertionError(f"nothing was recorded as written before {slug}")

    def skip_unreadable(self, slug: str, what: str) -> bool:
        """Data (``what``, with the reason) cannot be read back here: build mode fails
        (False)."""
        return False

    # ------------------------------------------------------------------ expectations
    def osds(self, slug: str, per: int, hosts: list[str], ceph: CephRunner) -> tuple[str, Callable[[], Any]]:
        """The OSD layout the stage's feature names, checked against the lab model."""
        wanted = {h: per for h in hosts}
        layout = stages.osd_layout(self.applied)
        assert wanted == layout, (f"the feature expects {wanted}, the lab model after {self.applied} "
                                  f"says {layout}")
        wanted = {self.lab.target.crush_host(node): n for node, n in wanted.items()}
        return (f"{sum(wanted.values())} OSDs up and in on {', '.join(wanted)}",
                lambda: ceph_checks.assert_osds(ceph.json("osd", "dump"), ceph.json("osd", "tree"), wanted))

    def health(self, slug: str, ceph: CephRunner) -> tuple[str, Callable[[], Any]]:
        def probe():
            ceph_checks.assert_pgs_clean(ceph.json("status"))
            return ceph_checks.assert_health(ceph.json("health", "detail"))
        return "HEALTH_OK (or only accepted warnings) with every PG active+clean", probe

    def health_now(self, slug: str, health: dict, ceph: CephRunner) -> None:
        """Health as read once (``health detail``) holds for ``slug``."""
        ceph_checks.assert_pgs_clean(ceph.json("status"))
        ceph_checks.assert_health(health)

    def status(self, ceph: CephRunner) -> tuple[str, Callable[[], Any]]:
        osds = sum(stages.osd_layout(self.applied).values())
        return "ceph status counts", lambda: ceph_checks.assert_status_counts(
            ceph.json("status"), mons=len(model.NODES), osds=osds)

    def osd_ids(self, dump: dict) -> list[int]:
        """The OSD ids of ``osd dump``, which must be as many as the lab model has."""
        ids = [o["osd"] for o in dump.get("osds", [])]
        layout = stages.osd_layout(self.applied)
        assert len(ids) == sum(layout.values()), (
            f"osd dump lists {len(ids)} OSDs; the lab should have {layout}")
        return ids

    def counted_osds(self, ceph: CephRunner) -> int:
        """The OSDs ``ceph df`` counts: the lab model's."""
        return sum(stages.osd_layout(self.applied).values())

    def capacity_factor(self, factor: float, before: Optional[int], ceph: CephRunner) -> Optional[float]:
        """How much the raw capacity must have grown since ``before`` (None: not judged)."""
        assert before is not None, "the raw capacity before extend_storage was not recorded"
        return factor


class VerifyJudge(BuildJudge):
    """A lab someone built by hand, graded without a change."""

    verifying = True

    def name(self, kind: str, prefix: str, length: int = 10) -> str:
        return self.lab.scratch(kind)

    def wait(self, timeout: float) -> tuple[float, Callable[[], None]]:
        """Nothing is being built, so a settled lab shows its outcome at once: a wait polls
        at most :data:`~cephlab.verify.WAIT_CAP` (scaled). Its fail-fast holds back for
        :data:`~cephlab.verify.SETTLE` (scaled): a mistake of the lab (an OSD marked out by
        hand) is a cause that cannot heal, and it must not end a wait whose own answer only
        lags (ceph df and PG stats reach the mgr a second or two late) as a red of a stage
        that holds. The stage the mistake belongs to still goes red, that much later."""
        scale = self.lab.cfg.timeouts.command / 60.0
        return (min(timeout, verify.WAIT_CAP * scale),
                waits.after(verify.SETTLE * scale, self.lab.target.fail_fast))

    def writes(self, kind: str) -> None:
        self.lab.scratch(kind)  # refused with --lab-verify-readonly

    def database(self) -> str:
        """A scratch database of its own, dropped after the scenario."""
        return verify.SCRATCH_DB

    def cleanup(self, request, remove: Callable[[], Any]) -> None:
        request.addfinalizer(remove)

    def change(self, why: str) -> None:
        raise verify.VerifyRefused(why)

    def restart(self, service: str, what: str) -> None:
        self.lab.note(service, f"{what} surviving a restart: verify mode restarts nothing")

    def too_late_to_write(self, slug: str) -> bool:
        self.lab.note(slug, f"data written before {slug}: none was recorded (the harness did not "
                      f"build this lab), so nothing is read back")
        return True

    def nothing_recorded(self, slug: str) -> bool:
        return True  # said in the grade's notes by the Given step

    def skip_unreadable(self, slug: str, what: str) -> bool:
        self.lab.note(slug, what)
        return True

    def osds(self, slug, per, hosts, ceph):
        """Each stage judges its own part of the layout the reached stage has."""
        return f"the OSDs stage {slug} makes", lambda: verify.assert_osds_for(
            slug, self.applied, ceph.json("osd", "dump"), ceph.json("osd", "tree"),
            self.lab.target.crush_host)

    def health(self, slug, ceph):
        """PGs count for the stage that makes their pool."""
        return f"health as stage {slug} sees it", lambda: self.health_now(
            slug, ceph.json("health", "detail"), ceph)

    def health_now(self, slug, health, ceph):
        verify.assert_stage_health(slug, health, ceph.json("pg", "ls"),
                                   ceph.json("osd", "pool", "ls", "detail"))

    def status(self, ceph):
        """The CLI must agree with itself; the OSD stages grade the layout."""
        return "ceph status agrees with ceph osd dump", lambda: verify.assert_status_agrees(
            ceph.json("status"), ceph.json("osd", "dump"), len(model.NODES))

    def osd_ids(self, dump):
        return [o["osd"] for o in dump.get("osds", [])]

    def counted_osds(self, ceph):
        """ceph df counts the OSDs that are in; the OSD stages grade the rest."""
        return sum(i for _, i in ceph_checks.osd_states(ceph.json("osd", "dump")).values())

    def capacity_factor(self, factor, before, ceph):
        if before is None:
            self.lab.note("extend_storage", "raw capacity growth: the capacity before sdd was added "
                          "was not recorded (the lab was not built by this harness)")
            return None
        # later stages (and an OSD out) change the OSDs ceph df counts
        order = stages.get("extend_storage").order
        upto = [st for st in self.applied if stages.get(st).order <= order]
        return factor * self.counted_osds(ceph) / sum(stages.osd_layout(upto).values())


def judge_of(lab) -> BuildJudge:
    return VerifyJudge(lab) if lab.verifying else BuildJudge(lab)
