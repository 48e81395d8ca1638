"""Verify mode (``--lab-mode=verify``): grade a lab somebody built by hand, stage by stage,
and change nothing.

Enforced here, in one place, by what the lifecycle hands the steps in verify mode:

- :class:`ReadOnlyTarget` stands for the target: every mutating method of the target
  contract (apply, resume, repair, destroy, restart, inject_fault, and a CephFS mount, which
  starts a client daemon) raises :class:`VerifyRefused`; reads go to the real target;
- :class:`GuardedCeph` stands for the Ceph runner: read-only commands only, plus writes
  whose every name is under the one scratch prefix :data:`SCRATCH` (the data round trips),
  which the scenario removes again; ``--lab-verify-readonly`` refuses those too;
- :class:`ReadOnlyKube` stands for the Kubernetes API: no apply, create, patch or delete;
- :class:`ReachedState` stands for the lab state: it is never written, and the stages it
  calls applied are the stages up to the reached one (``--lab-reached``, or the furthest
  stage whose evidence holds: :func:`detect_reached`), so every progress-dependent
  expectation comes from :mod:`cephlab.model` as in build mode.

The grade (:func:`grade`) turns each stage's scenario results into one row: holds, does not
hold, not reached, cannot check here; a failure names what was found, what the lab
expects, and which step of the lab makes it (:data:`LAB_STEPS`, the lab spec's own terms).
"""

from .grading import (GRADES, LAB_STEPS, Grade, assert_osds_for, assert_stage_health,
                      assert_status_agrees, grade, grade_lines)
from .reached import ReachedState, detect_reached, evidence, open_readonly, reached_stages, settle
from .readonly import (MUTATING, READING, GuardedCeph, ReadOnlyKube, ReadOnlyMachines,
                       ReadOnlyTarget)
from .rules import (MODES, SCRATCH, SCRATCH_DB, SETTLE, WAIT_CAP, NotReached, VerifyRefused,
                    ceph_refusal)

__all__ = ["GRADES", "LAB_STEPS", "MODES", "MUTATING", "READING", "SCRATCH", "SCRATCH_DB",
           "SETTLE", "WAIT_CAP", "Grade", "GuardedCeph", "NotReached", "ReachedState", "ReadOnlyKube",
           "ReadOnlyMachines", "ReadOnlyTarget", "VerifyRefused", "assert_osds_for",
           "assert_stage_health", "assert_status_agrees", "ceph_refusal", "detect_reached",
           "evidence", "grade", "grade_lines", "open_readonly", "reached_stages", "settle"]
