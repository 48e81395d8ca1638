"""pytest plugin for verify-mode runs of ``pytest features/`` on the cluster target against the
stand-ins of tests/standins (``-p tests.verify_cluster_plugin``; see tests/test_verify_cluster.py).

The target's Kubernetes API is the stand-in API over the state file STANDIN_STATE (the same
file the stand-in ``kubectl`` on PATH acts on); every call made through the in-process API is
written, at the end of the session, to STANDIN_CALLS. Everything else is the harness's own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.standins.cluster import FakeCluster, FakeKube

_KUBES: list[FakeKube] = []


def install() -> None:
    from cephlab.k8s.cluster_target import ClusterTarget
    from cephlab.targets import OVERRIDES

    class StandinCluster(ClusterTarget):
        def __init__(self, cfg, state):
            super().__init__(cfg, state)
            self._kube = FakeKube(FakeCluster(Path(os.environ["STANDIN_STATE"])),
                                  cfg.kubeconfig, "lab")
            _KUBES.append(self._kube)

    OVERRIDES["cluster"] = StandinCluster


install()


def pytest_sessionfinish(session):
    path = os.environ.get("STANDIN_CALLS")
    if path:
        Path(path).write_text(json.dumps([list(c) for k in _KUBES for c in k.calls], default=str))
