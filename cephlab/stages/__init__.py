"""The lab's stages, in order, as data (see the lab spec).

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
deploys, is slotted in beside the other storage kinds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


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

    @property
    def feature_file(self) -> str:
        return f"{self.key}_{self.slug}.feature"

    @property
    def order(self) -> int:
        return ORDER[self.slug]


STAGES: tuple[Stage, ...] = (
    Stage("01", "vms", "three VMs from the Vagrantfile", kubernetes=True),
    Stage("02", "kubernetes", "kubeadm init and join", ("vms",), kubernetes=True),
    Stage("03", "cni", "Calico pod network", ("kubernetes",), kubernetes=True),
    Stage("04", "master_isolation", "control-plane taint removed", ("cni",), kubernetes=True),
    Stage("05", "dashboard", "Kubernetes Dashboard with an admin token",
          ("master_isolation",), kubernetes=True),
    Stage("06", "rook_operator", "Rook operator and CRDs", ("master_isolation",), kubernetes=True),
    Stage("07", "ceph_cluster", "Ceph cluster on sdc of every node", ("rook_operator",),
          invalidated_by=("extend_storage", "remove_node")),
    Stage("08", "ceph_dashboard", "Ceph mgr dashboard reachable", ("ceph_cluster",)),
    Stage("09", "block_pool", "replicated pool replicapool and block storage", ("ceph_cluster",)),
    Stage("10", "shared_filesystem", "CephFS k8s-fs with active and standby-replay MDS",
          ("ceph_cluster",)),
    Stage("10b", "object_store", "S3 object storage on RGW", ("ceph_cluster",)),
    # Beyond the 2018 lab: data survives daemons and a node going away. It runs on the
    # one-OSD-per-node layout, where every pool keeps a copy off any single node (the lab's
    # CephFS data pool has failure domain osd, so with two OSDs per node a node's loss can
    # take both copies of some objects).
    Stage("10c", "faults", "faults injected, nothing lost",
          ("block_pool", "shared_filesystem", "object_store", "mysql"), destructive=True,
          invalidated_by=("extend_storage", "remove_node"), builds=False),
    Stage("11", "extend_storage", "sdd added on every node", ("ceph_cluster",),
          invalidated_by=("remove_node",), records_before=("raw_bytes_before_extend",)),
    Stage("12", "toolbox", "Ceph CLI answers and agrees with the lab", ("ceph_cluster",)),
    Stage("13", "pg_num", "pg_num 150 on k8s-fs-data0 and replicapool",
          ("block_pool", "shared_filesystem")),
    Stage("14", "remove_node", "k8s-1's storage removed without data loss",
          ("extend_storage", "block_pool", "shared_filesystem"), destructive=True),
    Stage("15", "minio", "MinIO on CephFS", ("shared_filesystem",), kubernetes=True),
    Stage("16", "mysql", "MySQL on Ceph block storage", ("block_pool",)),
    # On Kubernetes MinIO's stage makes /ghost on CephFS; locally Ghost's own stage does.
    Stage("17", "ghost", "Ghost on CephFS and MySQL", ("mysql", "shared_filesystem", "minio")),
)

ORDER: dict[str, int] = {s.slug: i for i, s in enumerate(STAGES)}
BY_SLUG: dict[str, Stage] = {s.slug: s for s in STAGES}


def get(slug: str) -> Stage:
    try:
        return BY_SLUG[slug]
    except KeyError:
        raise KeyError(f"unknown stage {slug!r}; stages are: {', '.join(BY_SLUG)}") from None


def of_item(item) -> Optional[Stage]:
    """The stage a collected scenario belongs to: the stage whose marker (its slug) it
    carries, or None. ``item`` is a pytest item; only its ``get_closest_marker`` is used."""
    for stage in STAGES:
        if item.get_closest_marker(stage.slug) is not None:
            return stage
    return None


def closure(slug: str, applicable=lambda stage: True) -> list[Stage]:
    """``slug`` and everything it transitively requires, requirements first (ties in stage
    order).

    Stages for which ``applicable`` is false (Kubernetes stages on the local target) are
    left out, and so is what only they require.
    """
    out: list[Stage] = []
    seen: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ValueError(f"stage requirements form a cycle: {' -> '.join(path + (name,))}")
        stage = get(name)
        if name in seen or not applicable(stage):
            return
        for req in sorted(stage.requires, key=lambda r: ORDER[r]):
            visit(req, path + (name,))
        seen.add(name)
        out.append(stage)

    visit(slug, ())
    return out
