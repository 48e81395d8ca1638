"""What a stage's Kubernetes operations are built from: the target's hosts and one lab's
nodes, devices, addresses and secrets (:class:`PlanContext`). The stage modules
(:mod:`cephlab.stages`) read it; :func:`cephlab.k8s.plan_build.build` makes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

from .. import model
from . import manifests as m
from .objects import Obj
from .ops_kube import Delete
from .transport import Transport

#: The lab's two OSD devices on every node; a lab's own devices play them, in this order.
LAB_DEVICES = ("sdc", "sdd")


@dataclass(frozen=True)
class Hosts:
    """What a target's plan does on the lab's hosts: the one thing the plans of the
    Kubernetes targets differ in. Each target class gives its own (``plan_hosts``)."""

    #: The target's name, for messages and commands.sh headers.
    target: str
    #: How a root shell reaches a node (node scripts, and kubeadm where the plan runs it).
    transport: Transport
    #: The plan makes Kubernetes itself on machines it has (kubeadm, join, Calico); False:
    #: the cluster exists already.
    builds_kubernetes: bool
    #: Stage vms's operations that bring the machines up (``vagrant up``); none where the
    #: target makes its machines outside the plan or has none to make.
    machines: tuple = ()
    #: Extra ``kubeadm init`` flags this kind of machine needs, each for a reason the target
    #: states.
    kubeadm_flags: tuple[str, ...] = ()
    #: The API server's URL as this machine reaches it, written into the fetched kubeconfig
    #: (None: kubeadm's own, the first node's address, is reachable from here).
    api_server: Optional[str] = None
    #: The plan installs Calico (stage cni); False: the target lays a pod network of its own
    #: before the plan's wait for Ready nodes, and names it as the substitute it is.
    calico: bool = True


@dataclass(frozen=True)
class PlanContext:
    """One lab as the stages' Kubernetes operations see it (checked by ``build``)."""

    hosts: Hosts
    nodes: tuple[str, ...]
    secrets: Mapping[str, str]
    #: Where clients reach the first node's NodePorts.
    address: str
    #: node -> the two devices that play sdc and sdd
    devices: Mapping[str, tuple[str, ...]]
    #: node -> its kubernetes.io/hostname label, from which Rook names the CRUSH host
    hostnames: Mapping[str, str]
    #: Rook must accept loop devices.
    loop_devices: bool = False
    #: Another OSD layout: turns the CephCluster's ``spec.storage`` into this cluster's.
    osd_storage: Optional[Callable[[Obj], Obj]] = None
    #: Applied before the first CephCluster (the layout's StorageClass and volumes).
    osd_objects: Sequence[Obj] = ()
    #: Run in remove_node after the purge (the removed node's claims and volumes).
    osd_cleanup: Sequence[Delete] = ()

    @property
    def via(self) -> Transport:
        return self.hosts.transport

    @property
    def first(self) -> str:
        return self.nodes[0]

    @property
    def rest(self) -> tuple[str, ...]:
        return self.nodes[1:]

    @property
    def removed(self) -> str:
        """The node whose storage stage remove_node takes away (the lab's k8s-1's place)."""
        return self.nodes[model.NODES.index(model.REMOVED_NODE)]

    def url(self, service: str, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://{self.address}:{model.PORTS[service]}{path}"

    def ceph_cluster(self, members: Sequence[str], count: int) -> Obj:
        """The CephCluster on ``members``' first ``count`` devices, in this cluster's layout."""
        if self.osd_storage is None:
            return m.ceph_cluster(members, {n: self.devices[n][:count] for n in members})
        obj = m.ceph_cluster(members, LAB_DEVICES[:count])
        obj["spec"]["storage"] = self.osd_storage(obj["spec"]["storage"])
        return obj
