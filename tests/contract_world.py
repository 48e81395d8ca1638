"""The world behind the Kubernetes stand-ins of the contract test (tests/test_contract.py).

No Kubernetes, no Rook and no VMs can run on this machine, so the vagrant and cluster
targets meet the stateful stand-ins of tests/standins/ at the boundary they cannot cross,
all over one cluster state file (``cluster.json`` in the world directory, ``CONTRACT_WORLD``):

- the Kubernetes API (:class:`tests.standins.cluster.FakeKube` over
  :class:`~tests.standins.cluster.FakeCluster`, wired in by tests/contract_plugin.py): it
  refuses what the API server refuses, and Rook's operator makes its objects and OSDs from
  the custom resources applied;
- ``kubectl``, ``curl`` and ``helm`` on PATH (:mod:`tests.standins.tools`): the toolbox's
  ``ceph``/``rados``/``rbd`` answer from the model of :mod:`tests.standins.ceph`;
- ``vagrant`` (tests/fake_vagrant/vagrant: machines, kubeadm's files on each VM) and a
  ``VBoxManage`` that answers a version the pre-flight accepts.
"""

from __future__ import annotations

from pathlib import Path

from tests.standins import tools

STATE = "cluster.json"
#: the nodes each target's cluster has: the vagrant VMs (kubeadm registers them), the
#: existing cluster's workers (those of tests/test_contract.py's cluster config)
WORKERS = ("cephlab-worker", "cephlab-worker2", "cephlab-worker3")


def state_file(world: Path) -> Path:
    return Path(world) / STATE


def install_tools(bin_dir: Path, root: Path, world: Path) -> None:
    """kubectl, curl and helm (the stand-ins over the world's cluster), vagrant and
    VBoxManage on PATH in ``bin_dir``."""
    tools.install(bin_dir, state_file(world), Path(world) / "tools.log")
    vbox = bin_dir / "VBoxManage"
    vbox.write_text("#!/bin/sh\necho 7.1.4r165100\n")   # a release the lab's Vagrant drives
    vbox.chmod(0o755)
    vagrant = bin_dir / "vagrant"
    if not vagrant.exists():
        vagrant.symlink_to(root / "tests" / "fake_vagrant" / "vagrant")
