"""What one stage of the lab is, as data: its key, name, requirements and kind.

Each stage declares itself in its own module under :mod:`cephlab.stages` (``STAGE``); this
module holds only the type, so that the engines below the stages (plans, targets) can name a
stage without importing every stage's work.

``kubernetes`` marks stages that exist only where there is a Kubernetes API.
``invalidated_by`` names stages after which this stage's outcome no longer holds as
stated (e.g. 3 OSDs after ceph_cluster no longer holds once extend_storage ran): asking
for such a stage on a lab that has any of them rebuilds the lab first.
``destructive`` stages remove things; they run only on a lab the harness built (or with an
explicit allowance on the cluster target).
``requires`` is what a stage needs applied first; reaching a stage applies only its
transitive requirements (in stage order), so ``-k extend_storage`` on a fresh lab builds the
3-OSD cluster and nothing else. Kubernetes stages a target does not have count as met.
``key`` is the lab's own stage number (object_store, which the lab names but never
deploys, is slotted in beside the other storage kinds); the stages run in the order of
their keys ("10" < "10b" < "10c" < "11").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KEY = re.compile(r"(\d+)([a-z]?)")


@dataclass(frozen=True)
class Stage:
    key: str
    slug: str
    title: str
    requires: tuple[str, ...] = ()
    kubernetes: bool = False
    destructive: bool = False
    invalidated_by: tuple[str, ...] = field(default_factory=tuple)
    #: False for stages whose scenarios only act on what their requirements built (faults).
    builds: bool = True
    #: Facts the lifecycle measures just before applying this stage, on every target
    #: (see cephlab.lab.MEASURES), for the stage's Then steps to compare against.
    records_before: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not KEY.fullmatch(self.key):
            raise ValueError(f"stage {self.slug}: key {self.key!r} is not a number with an "
                             f"optional letter (07, 10b)")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.slug):
            raise ValueError(f"stage slug {self.slug!r}: lower case letters, digits and _ only")

    @property
    def feature_file(self) -> str:
        return f"{self.key}_{self.slug}.feature"

    @property
    def order(self) -> tuple[int, str]:
        """Where the stage runs among the others: its key, read as a number and a letter."""
        m = KEY.fullmatch(self.key)
        assert m is not None  # checked in __post_init__
        return int(m.group(1)), m.group(2)
