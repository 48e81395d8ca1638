"""The nodes target for real: three node containers on this machine, kubeadm, the pod
network, a pod on the control-plane node — the lab's Kubernetes half on a real cluster.

One module lab, built once by ``pytest features/ --lab-target=nodes`` as a user runs it
(needs root and ``python -m cephlab setup --kube``; skipped with that reason otherwise), then:
the stages pass, the cluster answers through the harness's own kubeconfig with k8s-1..3
Ready on their lab addresses, and a node container stopped behind the harness's back is
seen (status exits 1 naming it, a wait fails fast naming it), and a kept lab's next run
starts it again. Destroyed at the end, with nothing of it left on this machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cephlab.errors import DaemonExited
from tests.conftest import ROOT, destroyed_at_end, loopback_prefix, run_harness

PREFIX = loopback_prefix("nodes-lab")
STAGES = "vms or kubernetes or cni or master_isolation"


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the nodes target needs root"
    from cephlab.nodes import kubebuild

    if kubebuild.cached() is None:
        return "the Kubernetes programs are not built here (python -m cephlab setup --kube)"
    return None


pytestmark = [pytest.mark.lab, pytest.mark.skipif(_unavailable() is not None, reason=str(_unavailable()))]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from cephlab.nodes import node

    lab_dir = tmp_path_factory.mktemp("nodes") / "lab"
    records = None
    with destroyed_at_end(lab_dir):
        res = run_harness("--lab-target=nodes", f"--lab-dir={lab_dir}", f"--lab-ip-prefix={PREFIX}",
                          "--lab-destroy=never", "-k", STAGES, timeout=1800)
        records = node.load(lab_dir)
        yield lab_dir, res
    # destroyed: nothing of the lab is left (processes, loops, namespaces, mounts, cgroups)
    assert records is None or not node.leftovers(records), node.leftovers(records)


def _kubectl(lab_dir: Path, *argv: str) -> str:
    from cephlab.nodes import kubebuild

    return subprocess.run([str(kubebuild.cached() / "kubectl"), f"--kubeconfig={lab_dir / 'kubeconfig'}",
                           *argv], check=True, capture_output=True, text=True, timeout=60).stdout


def _open(lab_dir: Path):
    from cephlab.lab import Lab

    return Lab.open(lab_dir, announce=lambda _: None)


def test_the_stages_pass_on_real_nodes(lab):
    lab_dir, res = lab
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    assert "5 passed" in out, out[-3000:]        # vms, kubernetes, cni (2), master_isolation
    assert "lab substitute: pod network" in out and "Calico v3.31.5 cannot be built here" in out
    assert "resident memory of the lab" in out


def test_kubectl_through_the_harness_kubeconfig_shows_three_ready_nodes(lab):
    lab_dir, _ = lab
    nodes = json.loads(_kubectl(lab_dir, "get", "nodes", "-o", "json"))["items"]
    ready = {n["metadata"]["name"]: next(c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready")
             for n in nodes}
    assert ready == {"k8s-1": "True", "k8s-2": "True", "k8s-3": "True"}
    addresses = {n["metadata"]["name"]: next(a["address"] for a in n["status"]["addresses"]
                                             if a["type"] == "InternalIP") for n in nodes}
    assert addresses == {"k8s-1": "10.254.1.2", "k8s-2": "10.254.1.3", "k8s-3": "10.254.1.4"}
    version = json.loads(_kubectl(lab_dir, "version", "-o", "json"))["serverVersion"]["gitVersion"]
    assert version == "v1.34.9"


def test_a_stopped_node_is_seen_and_a_kept_labs_next_run_starts_it(lab):
    lab_dir, res = lab
    assert res.returncode == 0
    from cephlab.nodes import node

    records = node.load(lab_dir)
    node.stop(records, "k8s-3")
    status = subprocess.run([sys.executable, "-m", "cephlab", "status", "--lab-dir", str(lab_dir)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert status.returncode == 1, status.stdout + status.stderr
    assert "not running: node container k8s-3" in status.stdout
    with pytest.raises(DaemonExited, match="k8s-3"):
        _open(lab_dir).target.fail_fast()      # every wait on the lab asks this first
    again = run_harness("--lab-target=nodes", f"--lab-dir={lab_dir}", f"--lab-ip-prefix={PREFIX}",
                        "--lab-destroy=never", "-k", "cni", timeout=900)
    out = again.stdout + again.stderr
    assert again.returncode == 0, out[-5000:]
    assert "node container k8s-3" in out          # the kept lab said what it started
    assert node.is_running(node.load(lab_dir), "k8s-3")
