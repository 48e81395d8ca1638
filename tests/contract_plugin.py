"""pytest plugin for the contract test's runs of ``pytest features/``
(``-p tests.contract_plugin``; see tests/test_contract.py).

On the vagrant and cluster targets it puts the stand-ins of tests/contract_world.py at the
boundary: the target's Kubernetes API is the world's in-memory API, and ``kubectl`` on PATH
(set by the test) is the world's. Everything else is the harness's own code: the plugin, the
lifecycle, the target's stage engine, the steps. On the local target nothing is replaced.

Each scenario's outcome is written, with its stage, to the JSON file CONTRACT_REPORT.
"""

from __future__ import annotations

import json
import os

import pytest

from cephlab.plugin import item_stage
from tests.contract_world import make_world_kube

ADMIN_CONTEXT = "kubernetes-admin@kubernetes"
_KUBES: dict[str, object] = {}
_RESULTS: dict[str, dict] = {}


def _kube(target: str, kubeconfig: str, context: str, nodes=None):
    """One API per run and target: what one stage applies, the next one sees."""
    if target not in _KUBES:
        _KUBES[target] = make_world_kube(kubeconfig, context)(nodes=nodes)
    return _KUBES[target]


def _lab_nodes():
    from tests.contract_world import DictKube

    nodes = DictKube().nodes
    for i, node in enumerate(nodes):
        node["metadata"]["name"] = f"k8s-{i + 1}"
        node["status"]["addresses"] = [{"type": "InternalIP", "address": f"10.254.1.{i + 2}"}]
    return nodes


def standin_classes():
    from cephlab.errors import LabError
    from cephlab.k8s.cluster_target import ClusterTarget
    from cephlab.k8s.vagrant_target import VagrantTarget

    class StandinCluster(ClusterTarget):
        def __init__(self, cfg, state):
            super().__init__(cfg, state)
            self._kube = _kube("cluster", "/fake/kubeconfig", "lab-ctx")

    class StandinVagrant(VagrantTarget):
        @property
        def kube(self):
            if not self._has_kubeconfig():
                raise LabError("the vagrant lab has no kubeconfig yet")
            return _kube("vagrant", str(self.kubeconfig_path.resolve()), ADMIN_CONTEXT, _lab_nodes())

    return {"cluster": StandinCluster, "vagrant": StandinVagrant}


def install() -> None:
    """The target table's vagrant and cluster entries become the stand-in-wired classes."""
    from cephlab.k8s import preflight
    from cephlab.targets import OVERRIDES

    OVERRIDES.update(standin_classes())
    world = os.environ.get("CONTRACT_WORLD")
    if world:  # the VirtualBox host's network ranges, as a host prepared for the lab has them
        conf = os.path.join(world, "vbox-networks.conf")
        with open(conf, "w") as fh:
            fh.write("* 10.254.1.0/24\n")
        preflight.VBOX_NETWORKS_CONF = conf


install()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    stage = item_stage(item)
    if stage is None:
        return
    row = _RESULTS.setdefault(item.nodeid, {"stage": stage.slug, "outcome": "passed", "text": ""})
    if report.skipped:
        row["outcome"] = "skipped"
        row["text"] = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    elif report.failed:
        row["outcome"] = "failed"
        row["text"] = str(report.longrepr)[-3000:]


def pytest_sessionfinish(session):
    path = os.environ.get("CONTRACT_REPORT")
    if path:
        with open(path, "w") as fh:
            json.dump(_RESULTS, fh, indent=1)
