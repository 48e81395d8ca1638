"""The one list of the lab's targets: name -> where its class lives and what it is.

Everything that names targets derives from :data:`TARGETS`: the option's choices and help
(:mod:`cephlab.config`, :mod:`cephlab.plugin`), the target table
(:func:`cephlab.targets.target_class`), ``stages --why``. Adding a target is a line here and
its package; the class is imported only when a run uses it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    where: str          #: "package.module:Class"
    what: str           #: one line for help texts
    kubernetes: bool    #: it has a Kubernetes API (stages marked kubernetes run there)


TARGETS: dict[str, Entry] = {
    "local": Entry("cephlab.local.target:LocalTarget",
                   "a real Ceph cluster on this machine, nodes k8s-1..3 on loopback", False),
    "vagrant": Entry("cephlab.k8s.vagrant_target:VagrantTarget",
                     "the lab itself: three VMs from the Vagrantfile, kubeadm, Calico, Rook", True),
    "cluster": Entry("cephlab.k8s.cluster_target:ClusterTarget",
                     "an existing Kubernetes cluster given by a kubeconfig", True),
    "nodes": Entry("cephlab.nodes.target:NodesTarget",
                   "the vagrant lab without the VMs: node containers k8s-1..3 on this machine, "
                   "Kubernetes built from source", True),
}
#: What ``auto`` may choose besides the targets themselves.
AUTO = "auto"


def names() -> tuple[str, ...]:
    return tuple(TARGETS)


def kubernetes_targets() -> tuple[str, ...]:
    return tuple(n for n, e in TARGETS.items() if e.kubernetes)


def choices_text() -> str:
    return ", ".join((*TARGETS, AUTO))
