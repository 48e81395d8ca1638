"""The operations a stage plan is made of: typed, each with one ``render()`` for commands.sh.

A plan (:class:`StagePlan`) is a list of these, built with every address, node and device
already in its fields (:mod:`cephlab.k8s.plan_build`). Three readers walk the same list:

- :mod:`cephlab.k8s.plan` writes ``render()`` of each op into commands.sh (arguments quoted
  with :func:`shlex.join`; run-time values such as the join command or an OSD id live in
  shell variables, never in the plan);
- :mod:`cephlab.k8s.plan_runner` runs each op through its own method (one per op type), in Python
  where it can (apply, waits) and as an argv list where it must (kubectl, vagrant, curl);
- :mod:`cephlab.k8s.plan_check` replays the ops against a model of the cluster.

The operation types live by family in :mod:`cephlab.k8s.ops_kube` (the API and its
workloads) and :mod:`cephlab.k8s.ops_host` (VMs, nodes, HTTP); :mod:`cephlab.k8s.plan_ref`
holds what they share. This module gathers them (import them from here) with the plan
itself. Nothing here runs anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union, get_args

from ..stage import Stage
from .objects import Obj
from .ops_host import (FetchKubeconfig, HttpCheck, KubeadmJoin, NodeScript, Note, RemoveOsds, Ssh,
                       VagrantUp)
from .ops_kube import (Apply, ApplyUrl, ApplyUrlEdited, Delete, Exec, HelmInstall, Kubectl, Rollout,
                       Scale, Taint, Toolbox, WaitCondition, WaitCount, WaitNodesReady, WaitPhase)
from .plan_ref import (CEPH_CONNECT_TIMEOUT, DOWNLOAD, HTTP_MAX_TIME, HTTP_RETRIES,
                       HTTP_RETRY_DELAY, TOOLBOX_EXEC, Ref, quoted, ref_of)

Op = Union[Apply, ApplyUrl, ApplyUrlEdited, HelmInstall, WaitPhase, WaitCondition, WaitNodesReady,
           Rollout, WaitCount, Scale, Delete, Taint, Kubectl, Exec, Toolbox, HttpCheck, VagrantUp, Ssh,
           KubeadmJoin, FetchKubeconfig, NodeScript, RemoveOsds, Note]
OP_TYPES = get_args(Op)


@dataclass
class StagePlan:
    """One stage's operations, in order; ``stage`` is the one stage table's entry."""
    stage: Stage
    ops: list = field(default_factory=list)

    @property
    def slug(self) -> str:
        return self.stage.slug

    @property
    def dirname(self) -> str:
        return f"{self.stage.key}_{self.stage.slug}"

    def applies(self) -> list[Apply]:
        return [op for op in self.ops if isinstance(op, Apply)]

    @property
    def objects(self) -> list[Obj]:
        return [op.obj for op in self.applies()]

    @property
    def scripts(self) -> dict[str, str]:
        return {op.name: op.text for op in self.ops if isinstance(op, NodeScript)}

    def apply(self, *objects: Obj) -> None:
        for o in objects:
            index = len(self.objects) + 1
            self.ops.append(Apply(o, f"{index:02d}-{o['kind'].lower()}-{o['metadata']['name']}.yaml"))

    def add(self, *ops) -> None:
        for op in ops:
            if not isinstance(op, OP_TYPES):
                raise TypeError(f"not a plan operation: {op!r}")
            self.ops.append(op)

    def render(self) -> str:
        return "\n".join(op.render() for op in self.ops)


__all__ = ["CEPH_CONNECT_TIMEOUT",  # noqa: PLE0604 (it ends with the operation types by name)
           "DOWNLOAD", "HTTP_MAX_TIME", "HTTP_RETRIES", "HTTP_RETRY_DELAY", "TOOLBOX_EXEC",
           "Ref", "quoted", "ref_of", "Op", "OP_TYPES", "StagePlan",
           *(t.__name__ for t in OP_TYPES)]
