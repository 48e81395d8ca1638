"""The nodes target: the vagrant lab without the VMs.

Three privileged node containers k8s-1..3 on this machine (:mod:`cephlab.nodes.node`), each
with its own Debian root, hostname, network namespace on the lab's bridge (10.254.1.2-4),
systemd, containerd and kubelet, and two sparse disks attached as loop devices that the node
knows as ``sdc`` and ``sdd``. Every program and image of the cluster is built on this
machine from Go modules and Debian packages (``python3 -m cephlab setup --kube``).

The VM layer is the only difference from the vagrant target: stage ``vms`` makes the
containers and runs the Vagrantfile's own provisioning inside them
(:mod:`cephlab.nodes.provision`); from stage ``kubernetes`` on, the same typed plan as the
vagrant target's runs through the same engine, its host commands over the node containers'
exec (:class:`cephlab.k8s.transport.NodeExec`) instead of ``vagrant ssh``.

The cluster's network lives in namespaces of the lab's own; the harness reaches the API
server and the NodePorts through forwarders on loopback addresses (``--lab-ip-prefix``,
k8s-N at PREFIX.N+1), which the admin kubeconfig names (the API server's certificate
carries that address too).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Optional

from .. import model
from ..config import LabConfig
from ..errors import ConfigError, DaemonExited, LabError
from ..stages import Stage
from ..state import LabState
from ..k8s import manifests as m
from .. import versions
from ..k8s import vm_checks
from ..k8s.kube_services import NODE_PORTS, KubeServices
from ..k8s.kube_engine import KubeEngine
from ..k8s.kube_target import MadeCluster
from ..k8s.plan_build import Hosts, build, by_stage
from ..k8s.plan_ops import StagePlan
from ..k8s.transport import NodeExec
from ..waits import wait_for
from . import kubefiles, podnet, provision, unbuildable
from .node import NodeSet

log = logging.getLogger("cephlab")

#: The stages this target builds for real; the others need upstream pieces that cannot be
#: built on this machine (:mod:`cephlab.nodes.unbuildable` says which and what was tried).
BUILT = ("vms", "kubernetes", "cni", "master_isolation")
API_PORT = 6443
#: Ports the forwarders publish on every node's loopback address.
FORWARDED = (API_PORT, *sorted(set(NODE_PORTS.values())))


class NodesTarget(MadeCluster):
    """The harness built this lab, so destructive stages need no allowance."""

    name = "nodes"
    supported = frozenset(BUILT)
    not_built = {**{slug: f"stage {slug} does not run on the nodes target: {why}"
                    for slug, why in unbuildable.STAGES.items()},
                 "faults": "stage faults runs on the local target only (it SIGKILLs the lab's "
                           "Ceph daemons by recorded pid)"}
    rebuild_if_unfinished = frozenset({"vms", "kubernetes"})
    substitutes = (podnet.SUBSTITUTE,)
    limits = ("the VMs themselves: VirtualBox or libvirt, the Vagrant box and its download, "
              "each VM's own kernel and modules (the nodes share this machine's), the VMs' "
              "disk controller naming the disks sdc and sdd (here loop devices play them), "
              "apt installs from pkgs.k8s.io, time sync between machines; only "
              "--lab-target=vagrant on real VMs shows those",)
    origins = (f"Kubernetes v{versions.KUBERNETES} (kubeadm, kubelet, kubectl, the control plane, kube-proxy), "
               "etcd, CoreDNS, pause, crictl and the CNI plugins are built here from their Go "
               "modules (setup --kube); every image is written here from them and from Debian "
               "roots, none is pulled",
               f"{versions.HELPER_IMAGE} (the lab's helper image) is written from Debian trixie's "
               "busybox-static of the same BusyBox release",
               "the nodes' containerd 1.6 and runc are Debian 12's")

    def __init__(self, cfg: LabConfig, state: LabState) -> None:
        super().__init__(cfg, state)
        self._plans: Optional[dict[Stage, StagePlan]] = None
        self._nodes: Optional[NodeSet] = None
        self._bin: Optional[Path] = None
        self.engine = KubeEngine(cfg, state, kube=lambda: self.kube, plans=self.plans,
                                 runner_kube=self.runner_kube, env=self._env)
        self.services = KubeServices(self.name, lambda: self.kube, self.node_address, cfg.lab_dir)

    # ------------------------------------------------------------------ pieces
    @property
    def nodes(self):
        """The lab's node containers (:class:`cephlab.nodes.node.NodeSet`)."""
        if self._nodes is None:
            from . import images

            # the nodes see the built programs and the image archives read-only, at their
            # paths here (nothing is copied per node)
            shared = [images.cache_dir()] + ([self._bin_dir()] if self._bin_dir() else [])
            self._nodes = NodeSet(self.cfg.lab_dir, tuple(self.cfg.nodes),
                                  {n: self.node_address(n) for n in self.cfg.nodes}, FORWARDED,
                                  shared=shared)
        return self._nodes

    def machines(self) -> "NodeMachines":
        return NodeMachines(self.nodes)

    def _bin_dir(self) -> Optional[Path]:
        """The programs built by ``setup --kube`` (None: not built); asked once per run."""
        if self._bin is None:
            from .kubebuild import cached

            self._bin = cached()
        return self._bin

    def _env(self) -> dict[str, str]:
        """The plan's host commands use the lab's own kubectl (built at the pinned version)."""
        bin_dir = self._bin_dir()
        return {"PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"} if bin_dir else {}

    def node_address(self, lab_node: str) -> str:
        """Where the harness reaches ``lab_node``: its forwarder on loopback."""
        return self.cfg.loopback_ip(lab_node)

    def expected_address(self, lab_node: str) -> str:
        """The address the node itself has (and reports as its InternalIP)."""
        return m.lab_ip(list(self.cfg.nodes).index(lab_node))

    # ------------------------------------------------------------------ checks first
    def sanity_checks(self) -> None:
        from . import preflight

        from .node import load

        # the kept lab's own forwarder holding its ports is no conflict
        forwarding = load(self.cfg.lab_dir) is not None and not self.nodes.helpers_down()
        preflight.check({n: self.node_address(n) for n in self.cfg.nodes}, FORWARDED,
                        running=forwarding)

    # ------------------------------------------------------------------ the plan
    @classmethod
    def plan_hosts(cls, lab_dir: Optional[Path] = None, api_address: Optional[str] = None) -> Hosts:
        """Node containers the harness makes itself (stage vms), entered as root; the plan
        builds Kubernetes on them. kubeadm init also certifies the API server for the
        loopback address the harness reaches it at."""
        program = str(lab_dir / NodeSet.EXEC) if lab_dir else NodeSet.EXEC   # relative: no lab yet
        flags = [f"--apiserver-cert-extra-sans={api_address}"] if api_address else []
        return Hosts(cls.name, NodeExec(program), builds_kubernetes=True,
                     kubeadm_flags=tuple(flags), calico=False,
                     api_server=f"https://{api_address}:{API_PORT}" if api_address else None)

    def plans(self) -> dict[Stage, StagePlan]:
        if self._plans is None:
            hosts = self.plan_hosts(self.cfg.lab_dir, self.node_address(model.NODES[0]))
            # clients on this machine reach the nodes' ports through the forwarders only:
            # the lab's 10.254.1.x lives in the lab's own network namespaces
            self._plans = by_stage(build(hosts, tuple(self.cfg.nodes), m.generate_secrets(),
                                         address=self.node_address(model.NODES[0]),
                                         loop_devices=True, devices=self.nodes.devices()))
        return self._plans

    def apply(self, stage: Stage) -> None:
        if stage.slug == "vms":
            self._vms()
            return
        if stage.slug == "kubernetes":
            self._new_kubeconfig()
        if stage.slug == "cni":
            self._pod_network()
        self.run_plan(stage)
        if stage.slug == "kubernetes":
            self._kube_proxy_conntrack()

    def _vms(self) -> None:
        """The node containers up, the Vagrantfile's provisioning run in each, the cluster's
        images loaded, and the same checks as the vagrant target's machines."""
        nodes, bin_dir = self.nodes, self._bin_dir()
        if bin_dir is None:
            raise ConfigError("the Kubernetes programs are not built: run `python3 -m cephlab "
                              "setup --kube` (or `make kube`)")
        nodes.create_and_start(say=log.info)
        hosts = {n: self.expected_address(n) for n in self.cfg.nodes}
        for node in self.cfg.nodes:
            nodes.run(node, ["sh", "-s"], stdin=kubefiles.packages_script(bin_dir),
                      what=f"the Kubernetes programs and units on {node}")
            script = provision.node_script(provision.node_env(hosts[node], hosts))
            nodes.run(node, ["bash", "-s"], stdin=script, what=f"the Vagrantfile's provisioning of {node}")
            nodes.run(node, ["sh", "-s"], stdin=kubefiles.containerd_script(),
                      what=f"containerd's settings for the node containers on {node}")
        nodes.load_images(self._images(bin_dir), say=log.info)
        problems = vm_checks.machine_problems(
            lambda node, line: nodes.run(node, ["sh", "-c", line]), self.cfg.nodes, hosts,
            disk_types=("loop",))
        if problems:
            raise LabError("stage vms: the node containers are up but do not fit the lab: "
                           + "; ".join(problems))

    def _pod_network(self) -> None:
        """The substitute for Calico (:mod:`cephlab.nodes.podnet`): each node's pods on a
        bridge from its pod CIDR, routes between the nodes' CIDRs."""
        def cidrs() -> dict[str, str]:
            found = podnet.pod_cidrs(self.kube.get_json("Node"))
            lacking = [n for n in self.cfg.nodes if n not in found]
            assert not lacking, f"no pod CIDR allocated yet to {', '.join(lacking)}"
            return found
        found = wait_for("every node's pod CIDR", cidrs, timeout=self.cfg.timeouts.daemon_start,
                         interval=1, fail_fast=self.fail_fast)
        addresses = {n: self.expected_address(n) for n in self.cfg.nodes}
        for node in self.cfg.nodes:
            self.nodes.run(node, ["sh", "-s"], stdin=podnet.node_script(node, found, addresses),
                           what=f"the pod network on {node}")
        log.info("[cni] %s", podnet.SUBSTITUTE)

    def _images(self, bin_dir: Path) -> list:
        """Every image the lab's nodes run, as archives written here: kubeadm's and the
        lab's helper image (its origin announced)."""
        from . import busybox, images

        archives = images.kubeadm_archives(bin_dir, say=log.info)
        helper, origin = busybox.archive(say=log.info)
        log.info("[vms] %s", origin)
        return [*archives, helper]

    def _kube_proxy_conntrack(self) -> None:
        """kube-proxy sizes the connection-tracking table, which belongs to this machine's
        kernel: outside its network namespace /proc/sys/net/netfilter/nf_conntrack_max is
        read-only, and kube-proxy exits on the refused write. ``conntrack.maxPerCore: 0``
        leaves the table as this machine has it. Set in kubeadm's kube-proxy ConfigMap, then
        the DaemonSet's pods are made anew to read it."""
        import yaml

        kube = self.kube
        cm = kube.get_json("ConfigMap", "kube-proxy", "kube-system")
        if cm is None:
            raise LabError("kubeadm made no kube-proxy ConfigMap in kube-system")
        conf = yaml.safe_load(cm["data"]["config.conf"])
        if (conf.get("conntrack") or {}).get("maxPerCore") == 0:
            return
        conf.setdefault("conntrack", {})["maxPerCore"] = 0
        kube.merge_patch({"apiVersion": "v1", "kind": "ConfigMap", "name": "kube-proxy",
                          "namespace": "kube-system"},
                         {"data": {"config.conf": yaml.safe_dump(conf, sort_keys=False)}})
        for pod in kube.get_json("Pod", namespace="kube-system", label_selector="k8s-app=kube-proxy"):
            kube.delete({"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"],
                         "namespace": "kube-system"})
        log.info("[kubernetes] kube-proxy: conntrack.maxPerCore 0 (the table is this machine's)")

    def owned_pids(self) -> set[int]:
        return self.nodes.pids()

    def footprint(self) -> Optional[tuple[int, str]]:
        per = self.nodes.resident()
        if not per:
            return None
        total = sum(per.values())
        gib = lambda b: f"{b / 2**30:.2f} GiB"   # noqa: E731
        return total, f"{gib(total)} ({', '.join(f'{n} {gib(b)}' for n, b in per.items())})"

    # ------------------------------------------------------------------ a kept lab
    def resume(self) -> list[str]:
        """Node containers of a kept lab that do not run (this machine rebooted, a test
        stopped one) start again from their roots in the lab dir."""
        if not self.state.applied("vms"):
            return []
        return self.nodes.start_stopped()

    def broken(self) -> list[str]:
        if not self.state.applied("vms"):
            return []
        return [f"node container {n}" for n in self.nodes.not_running()] + self.nodes.helpers_down()

    def repair(self) -> list[str]:
        return self.resume()

    def status(self) -> list[str]:
        return self.nodes.status() + (self.engine.status() if self._has_kubeconfig() else [])

    def fail_fast(self) -> None:
        if self.state.applied("vms"):
            stopped = self.nodes.not_running()
            if stopped:
                raise DaemonExited(f"node container(s) {', '.join(stopped)} stopped: "
                                   f"{self.nodes.why_stopped(stopped[0])}")
        if self._has_kubeconfig():
            self.engine.fail_fast()

    def diagnostics(self) -> str:
        parts = [self.nodes.diagnostics()]
        if self._has_kubeconfig():
            parts.append(self.engine.diagnostics())
        return "\n".join(parts)

    # ------------------------------------------------------------------ teardown
    def destroy(self) -> list[str]:
        """Stop the node containers and remove every process, mount, loop device, namespace
        and interface the lab made (its records say which), then the lab dir."""
        removed = self.nodes.destroy()
        self._kube = None
        shutil.rmtree(self.cfg.lab_dir, ignore_errors=False)
        return removed

    def describe(self) -> str:
        return (f"{len(self.cfg.nodes)} node containers in {self.cfg.lab_dir} (kubeconfig "
                f"{self.kubeconfig_path}, API at https://{self.node_address(model.NODES[0])}:"
                f"{API_PORT}); stages applied: {', '.join(self.state.applied_slugs()) or 'none'}")


class NodeMachines:
    """The node containers as the lab's machines (the face stage vms's steps ask of VMs)."""

    #: The data disks are loop devices: lsblk says so, and the check accepts it.
    disk_types: tuple[str, ...] = ("loop",)

    def __init__(self, nodes):
        self._nodes = nodes

    def status(self) -> dict[str, str]:
        stopped = set(self._nodes.not_running())
        return {n: "stopped" if n in stopped else "running" for n in self._nodes.nodes}

    def running(self) -> bool:
        return not self._nodes.not_running()

    def ssh(self, node: str, command: str) -> str:
        return self._nodes.run(node, ["sh", "-c", command])
