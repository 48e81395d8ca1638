"""pytest plugin for the contract test's runs of ``pytest features/``
(``-p tests.contract_plugin``; see tests/test_contract.py).

On the vagrant and cluster targets it puts the stand-ins of tests/standins at the boundary
(tests/contract_world.py): the target's Kubernetes API is :class:`FakeKube` over the world's
cluster state, and ``kubectl``/``curl``/``helm``/``vagrant`` on PATH (set by the test) are
the stand-ins over the same state. Everything else is the harness's own code: the plugin, the
lifecycle, the target's stage engine, the steps. On the local target nothing is replaced.

Each scenario's outcome is written, with its stage, to the JSON file CONTRACT_REPORT.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cephlab import stages
from cephlab.k8s import manifests as m
from tests.contract_world import WORKERS, state_file
from tests.standins.cluster import FakeCluster, FakeKube

_RESULTS: dict[str, dict] = {}


def _cluster(nodes, addresses=None) -> FakeCluster:
    return FakeCluster(state_file(Path(os.environ["CONTRACT_WORLD"])), tuple(nodes), addresses)


def standin_classes():
    from cephlab.errors import LabError
    from cephlab.k8s.cluster_target import ClusterTarget
    from cephlab.k8s.kube import resolve_context
    from cephlab.k8s.vagrant_target import VagrantTarget

    class StandinCluster(ClusterTarget):
        def __init__(self, cfg, state):
            super().__init__(cfg, state)
            self._kube = FakeKube(_cluster(WORKERS), "/fake/kubeconfig", "lab-ctx")

    class StandinVagrant(VagrantTarget):
        """The VMs' cluster: kubeadm (the vagrant stand-in) registers k8s-1..3 at their
        private addresses; the API is reached through the kubeconfig stage kubernetes fetched."""

        @property
        def kube(self):
            if not self._has_kubeconfig():
                raise LabError("the vagrant lab has no kubeconfig yet")
            if self._kube is None:
                path, ctx = resolve_context(str(self.kubeconfig_path), None)
                self._kube = FakeKube(self._standin_cluster(), path, ctx)
            return self._kube

        def runner_kube(self):
            if self._has_kubeconfig():
                return self.kube
            return FakeKube(self._standin_cluster(), str(self.kubeconfig_path), None)

        def _standin_cluster(self) -> FakeCluster:
            return _cluster(self.cfg.nodes, tuple(m.lab_ip(i) for i in range(len(self.cfg.nodes))))

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


def undo_the_fix() -> None:
    """``CONTRACT_UNDO=lifecycle_facts``: the lifecycle as it was before extend_storage was
    fixed, measuring no fact before a stage (tests/test_contract.py shows the cell red)."""
    import time

    from cephlab.lab import Lab

    def apply_without_facts(self, st) -> None:
        self.announce(f"applying stage {st.key} {st.slug}: {st.title}")
        start = time.monotonic()
        if st.builds:
            self.target.apply(st)
        self.state.mark_applied(st.slug, time.monotonic() - start)

    Lab._apply = apply_without_facts


install()
if os.environ.get("CONTRACT_UNDO") == "lifecycle_facts":
    undo_the_fix()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    stage = stages.of_item(item)
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
