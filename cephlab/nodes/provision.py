"""The Vagrantfile's provisioning, run inside the node containers.

The Vagrantfile's ``PROVISION`` script is cut into parts marked ``# >>> NAME`` …
``# <<< NAME``. A node container is a VM without the VM: the parts it needs run verbatim,
in the Vagrantfile's order, with the same environment (``K8S_VERSION``, ``NODE_IP``,
``LAB_HOSTS``); the others are left out, each for the reason in :data:`LEFT_OUT`. A part
the Vagrantfile gains that neither list names is refused, never skipped quietly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

from .. import versions

VAGRANTFILE = Path(__file__).resolve().parents[2] / "Vagrantfile"
#: Run inside every node container, in the Vagrantfile's order.
RUN = ("hosts", "swap", "sysctl", "containerd", "kubelet", "disks")
#: Not run, and why.
LEFT_OUT = {
    "modules": "the node containers share this machine's kernel, whose modules they cannot "
               "load; overlay, br_netfilter, rbd and ceph are checked by the pre-flight",
    "packages": "the node root has these packages from Debian's archive already "
                "(cephlab/nodes/noderoot.py), and the nodes have no route to a mirror",
    "time": "the nodes share this machine's clock (one kernel), so there is no skew to "
            "correct; chrony in a privileged container would set this machine's clock",
    "kubernetes-packages": "kubelet, kubeadm and kubectl are built from source at the pinned "
                           "version (python3 -m cephlab setup --kube), not installed from "
                           "pkgs.k8s.io, which cannot be reached here",
}
_PART = re.compile(r"^[ \t]*# >>> (?P<name>[\w-]+)\n(?P<body>.*?)^[ \t]*# <<< (?P=name)\n",
                   re.S | re.M)


def provision_script(vagrantfile: Path = VAGRANTFILE) -> str:
    """The ``PROVISION`` heredoc of the Vagrantfile, as the VMs get it."""
    text = vagrantfile.read_text()
    try:
        body = text.split("PROVISION = <<~'SHELL'\n", 1)[1].split("\nSHELL\n", 1)[0]
    except IndexError:
        raise ValueError(f"{vagrantfile} has no PROVISION = <<~'SHELL' … SHELL script") from None
    lines = body.splitlines()
    indent = min(len(l) - len(l.lstrip()) for l in lines if l.strip())   # <<~ strips it
    return "\n".join(l[indent:] for l in lines) + "\n"


def parts(script: str) -> dict[str, str]:
    """Part name -> its text (the marker lines excluded), in the script's order."""
    found = {m["name"]: m["body"] for m in _PART.finditer(script)}
    unknown = sorted(set(found) - set(RUN) - set(LEFT_OUT))
    if unknown:
        raise ValueError(f"the Vagrantfile's provisioning has part(s) {', '.join(unknown)} that "
                         f"cephlab/nodes/provision.py neither runs nor leaves out with a reason")
    missing = [n for n in RUN if n not in found]
    if missing:
        raise ValueError(f"the Vagrantfile's provisioning lacks part(s) {', '.join(missing)}")
    return found


def node_script(env: Mapping[str, str], vagrantfile: Path = VAGRANTFILE) -> str:
    """The script one node container runs: the Vagrantfile's prologue (shebang, ``set``,
    exports up to the first part), its environment, then every part of :data:`RUN`."""
    script = provision_script(vagrantfile)
    found = parts(script)
    prologue = script[:script.index("# >>> ")]
    prologue = "\n".join(l for l in prologue.splitlines() if not l.startswith("# ")) + "\n"
    exports = "".join(f"export {k}={_quote(v)}\n" for k, v in env.items())
    body = "".join(f"# >>> {name} (from the Vagrantfile)\n{found[name]}" for name in RUN)
    return prologue + exports + body


def node_env(node_ip: str, hosts: Mapping[str, str]) -> dict[str, str]:
    """The environment the Vagrantfile gives its provisioner, for one node."""
    return {"K8S_VERSION": versions.KUBERNETES,
            "K8S_DEB_REVISION": versions.KUBERNETES_DEB.rsplit("-", 1)[1],
            "NODE_IP": node_ip,
            "LAB_HOSTS": "\n".join(f"{ip} {name}" for name, ip in hosts.items())}


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"
