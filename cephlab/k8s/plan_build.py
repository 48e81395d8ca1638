"""Every stage's Kubernetes operations for one lab, as typed plans (:mod:`.plan_ops`).

``build()`` takes everything that differs between labs as parameters (node names, the first
node's address, each node's devices, whether they are loop devices, the VM provider) and
returns one :class:`~cephlab.k8s.plan_ops.StagePlan` per stage of the one stage table
(:data:`cephlab.stages.STAGES`) that has Kubernetes operations, in stage order; each stage's
module (:mod:`cephlab.stages`) writes its own. Nothing secret appears in an operation:
credentials live in Secret objects, run-time values (join command, dashboard token, OSD
ids) stay in the engine or in shell variables.
"""

from __future__ import annotations

from typing import Callable, Mapping, Optional, Sequence, Union

from .. import stages
from ..stage import Stage
from ..stages import STAGES
from . import manifests as m
from .objects import Obj
from .ops_kube import Delete
from .plan_context import LAB_DEVICES, Hosts, PlanContext
from .plan_ops import StagePlan


def hosts_of(target: str) -> Hosts:
    """The plan context of target ``target`` for a lab not made yet (plan mode, tests)."""
    from ..targets import target_class

    hosts = getattr(target_class(target), "plan_hosts", None)
    if hosts is None:
        raise ValueError(f"the {target} target has no Kubernetes plan")
    return hosts()


def planned_stages() -> tuple[Stage, ...]:
    """The stages with Kubernetes operations, in stage order (faults only acts on what others
    built)."""
    return tuple(s for s in STAGES if stages.work(s, "kubernetes") is not None)


def build(target: Union[str, Hosts], nodes: Sequence[str], secrets: Mapping[str, str], *,
          address: Optional[str] = None,
          devices: Optional[Mapping[str, Sequence[str]]] = None,
          hostnames: Optional[Mapping[str, str]] = None,
          loop_devices: bool = False,
          osd_storage: Optional[Callable[[Obj], Obj]] = None,
          osd_objects: Sequence[Obj] = (),
          osd_cleanup: Sequence[Delete] = ()) -> list[StagePlan]:
    """The plans of every stage with Kubernetes operations, in stage order, for ``target``'s
    hosts (a :class:`Hosts`, or a target name for its default). Each stage's module adds its
    own operations (``kubernetes(plan, ctx)``).

    ``address``: where clients reach the first node's NodePorts (default: the lab's
    10.254.1.2). ``devices``: node -> the two devices that play sdc and sdd (default: sdc,
    sdd). ``hostnames``: node -> its kubernetes.io/hostname label (default: the node name),
    from which Rook names the CRUSH host. ``loop_devices``: Rook must accept loop devices.
    ``osd_storage``: another OSD layout (the cluster config's local volumes): it turns the
    CephCluster's ``spec.storage`` (nodes with the lab's device names sdc/sdd) into this
    cluster's; ``osd_objects`` are applied before the first CephCluster (its StorageClass and
    volumes), ``osd_cleanup`` runs in remove_node after the purge (the removed node's claims
    and volumes).
    """
    hosts = hosts_of(target) if isinstance(target, str) else target
    nodes = m.check_nodes(nodes)
    checked = {n: tuple((devices or {}).get(n, LAB_DEVICES)) for n in nodes}
    bad = [n for n, d in checked.items() if len(d) != len(LAB_DEVICES)]
    if bad:
        raise ValueError(f"node(s) {', '.join(bad)}: give exactly {len(LAB_DEVICES)} devices "
                         f"(they play {' and '.join(LAB_DEVICES)})")
    ctx = PlanContext(hosts, nodes, m.check_secrets(secrets), address or m.lab_ip(0), checked,
                      {n: (hostnames or {}).get(n, n) for n in nodes}, loop_devices,
                      osd_storage, tuple(osd_objects), tuple(osd_cleanup))
    plans = []
    for stage in planned_stages():
        plan = StagePlan(stage)
        work = stages.work(stage, "kubernetes")
        assert work is not None  # planned_stages has only these
        work(plan, ctx)
        plans.append(plan)
    return plans


def by_stage(plans: Sequence[StagePlan]) -> dict[Stage, StagePlan]:
    return {p.stage: p for p in plans}
