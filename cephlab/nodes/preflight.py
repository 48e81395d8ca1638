"""What this machine needs before the nodes target does any work.

Pure checks over facts the caller gathers (:class:`Facts`): each returns its problems as
sentences saying what is missing and how to get it; :func:`check` gathers the facts from
this machine and raises one :class:`ConfigError` listing every problem, before anything is
made. Nothing here changes the machine.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..errors import ConfigError

#: Programs the harness runs on this machine for the node containers, and their package.
HOST_PROGRAMS = {"runc": "runc", "nsenter": "util-linux", "losetup": "mount", "ip": "iproute2",
                 "debootstrap": "debootstrap", "mount": "mount"}
#: Filesystems the nodes' kernel (this machine's) must offer: containerd's snapshotter
#: inside the nodes, and the Ceph clients of the CSI drivers.
FILESYSTEMS = ("overlay",)
#: Kernel features under /proc: the bridge's netfilter hook (kube-proxy and Calico need
#: bridge-nf-call-iptables), IP forwarding.
PROC_PATHS = {"/proc/sys/net/bridge/bridge-nf-call-iptables":
              "the br_netfilter module (modprobe br_netfilter)",
              "/proc/sys/net/ipv4/ip_forward": "IPv4 networking"}


@dataclass
class Facts:
    root: bool
    programs: dict[str, Optional[str]]            #: program -> its path, None: missing
    filesystems: set[str]                         #: from /proc/filesystems
    proc_paths: dict[str, bool]                   #: path -> exists
    cgroup_v1: bool                               #: cgroup v1 hierarchies (kubelet 1.34 runs on them)
    cgroup_v2_only: bool
    kube_built: Optional[str]                     #: the built programs' dir, None: not built
    busy_ports: list[str] = field(default_factory=list)   #: "addr:port: why" of the forwarders
    swaps: list[str] = field(default_factory=list)        #: active swap areas (/proc/swaps)


def problems(f: Facts) -> list[str]:
    found = []
    if not f.root:
        found.append("the nodes target needs root (network namespaces, loop devices, mounts, "
                     "privileged containers); run it as root")
    for program, path in f.programs.items():
        if not path:
            found.append(f"`{program}` is not on PATH: apt-get install {HOST_PROGRAMS[program]}")
    for fs in FILESYSTEMS:
        if fs not in f.filesystems:
            found.append(f"the kernel offers no {fs} filesystem (containerd's snapshotter in "
                         f"the nodes needs it): modprobe {fs}")
    for path, what in PROC_PATHS.items():
        if not f.proc_paths.get(path):
            found.append(f"{path} is missing: the kernel lacks {what}")
    if not (f.cgroup_v1 or f.cgroup_v2_only):
        found.append("no cgroup hierarchy is mounted under /sys/fs/cgroup")
    if not f.kube_built:
        found.append("the Kubernetes programs are not built: run `python3 -m cephlab setup "
                     "--kube` (or `make kube`) once; it builds them from Go modules and caches "
                     "them for every later lab")
    if f.swaps:
        found.append(f"this machine has swap on ({', '.join(f.swaps)}): kubelet in the nodes "
                     f"refuses to run with swap, and the nodes share this machine's kernel; "
                     f"turn it off with `swapoff -a` (the harness never changes this machine's "
                     f"swap itself)")
    found += [f"{p} (the forwarder of the lab's node addresses needs it; stop what holds it "
              f"or choose another --lab-ip-prefix)" for p in f.busy_ports]
    return found


def gather(addresses: dict[str, str], ports: tuple[int, ...], check_ports: bool,
           which: Callable[[str], Optional[str]] = shutil.which) -> Facts:
    from ..local.listeners import port_problem
    from . import kubebuild

    filesystems = {line.split()[-1] for line in Path("/proc/filesystems").read_text().splitlines()
                   if line.strip()}
    cg = Path("/sys/fs/cgroup")
    busy = []
    if check_ports:
        busy = [f"{ip}:{port}: {why}" for ip in addresses.values() for port in ports
                if (why := port_problem(ip, port))]
    built = kubebuild.cached()
    return Facts(root=os.geteuid() == 0,
                 programs={p: which(p) for p in HOST_PROGRAMS},
                 filesystems=filesystems,
                 proc_paths={p: Path(p).exists() for p in PROC_PATHS},
                 cgroup_v1=(cg / "memory").is_dir(),
                 cgroup_v2_only=(cg / "cgroup.controllers").exists(),
                 kube_built=str(built) if built else None,
                 busy_ports=busy,
                 swaps=[line.split()[0] for line in
                        Path("/proc/swaps").read_text().splitlines()[1:] if line.strip()])


def check(addresses: dict[str, str], ports: tuple[int, ...], *, running: bool) -> None:
    """Raise one ConfigError naming every problem (``running``: the kept lab's own
    forwarder holds the ports, which is no problem)."""
    found = problems(gather(addresses, ports, check_ports=not running))
    if found:
        raise ConfigError("the nodes target cannot run on this machine:\n  - "
                          + "\n  - ".join(found))
