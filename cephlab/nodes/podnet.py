"""The nodes target's pod network, a named substitute for Calico.

Calico v3.31.5 cannot be built on this machine: the Go module proxy serves
github.com/projectcalico/calico neither at the tag nor at its commit (2e4da40144aa), and the
one snapshot it serves (a 3.28 commit) cannot build either, since its go.mod replaces
github.com/projectcalico/api with ./api, a nested module that a module zip leaves out and
that the proxy serves only at a 2022 commit. So the nodes target does not pretend: stage cni
there lays the simplest pod network Kubernetes knows, made of the CNI reference plugins
(github.com/containernetworking/plugins, built from their module by ``setup --kube``):

- each node's pods on a Linux bridge ``cni0`` with addresses from the node's own pod CIDR
  (``spec.podCIDR``, which kubeadm's controller manager allocates from the lab's
  192.168.0.0/16 because kubeadm init was given ``--pod-network-cidr``), via ``host-local``;
- a route on every node to every other node's pod CIDR through that node's lab address
  (the nodes share one layer-2 network, the lab's bridge), so pods reach each other across
  nodes with their own addresses, unmasqueraded;
- ``portmap`` for host ports, ``loopback`` for every pod.

The run's header and report name it as the substitute it is (:data:`SUBSTITUTE`); the
stage's checks (nodes Ready on their lab addresses, pods reaching each other across nodes)
are the same as on every other target.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Mapping

from . import unbuildable

#: What stands in for what, and why: shown in the pytest header and the HTML report.
SUBSTITUTE = ("pod network: the CNI reference plugins bridge + host-local + portmap "
              "(containernetworking/plugins, built here) with routes between the nodes' pod "
              f"CIDRs, in place of Calico: {unbuildable.CALICO_WHY}")
CONFLIST = "/etc/cni/net.d/10-cephlab-bridge.conflist"
BRIDGE = "cni0"
UPLINK = "eth0"
#: The CNI plugins the network needs in /opt/cni/bin of every node.
PLUGINS = ("bridge", "host-local", "portmap", "loopback")


def conflist(pod_cidr: str) -> str:
    """The node's CNI configuration for its pod CIDR."""
    net = ipaddress.ip_network(pod_cidr)
    return json.dumps({
        "cniVersion": "1.0.0",
        "name": "cephlab-pods",
        "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
             "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": str(net)}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }, indent=2) + "\n"


def routes(me: str, cidrs: Mapping[str, str], addresses: Mapping[str, str]) -> list[list[str]]:
    """``ip route replace`` argv on node ``me``: every other node's pod CIDR via its address."""
    return [["ip", "route", "replace", cidrs[n], "via", addresses[n], "dev", UPLINK]
            for n in sorted(cidrs) if n != me]


def node_script(me: str, cidrs: Mapping[str, str], addresses: Mapping[str, str]) -> str:
    """The root shell script that lays the pod network on node ``me`` (safe to run again:
    the file is rewritten whole, routes are replaced)."""
    if me not in cidrs:
        raise ValueError(f"node {me} has no pod CIDR yet (kubeadm's controller manager "
                         f"allocates one when the node registers)")
    for cidr in cidrs.values():
        ipaddress.ip_network(cidr)   # refuse anything that is not a network
    missing = [p for p in PLUGINS]
    lines = ["set -eu",
             f"for p in {' '.join(missing)}; do test -x /opt/cni/bin/$p || "
             "{ echo \"/opt/cni/bin/$p is missing\"; exit 1; }; done",
             "mkdir -p /etc/cni/net.d",
             f"cat > {CONFLIST}.tmp <<'EOF'\n{conflist(cidrs[me])}EOF",
             f"mv {CONFLIST}.tmp {CONFLIST}"]
    lines += [" ".join(argv) for argv in routes(me, cidrs, addresses)]
    return "\n".join(lines) + "\n"


def pod_cidrs(nodes: list[dict]) -> dict[str, str]:
    """Node name -> its ``spec.podCIDR``, for the nodes that have one."""
    return {n["metadata"]["name"]: n["spec"]["podCIDR"] for n in nodes
            if (n.get("spec") or {}).get("podCIDR")}
