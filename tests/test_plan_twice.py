"""Every stage's plan, run twice against the stateful stand-ins, leaves the same state as run
once (and the second run does not fail); the stand-ins refuse an unguarded kubeadm init."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from cephlab import stages
from cephlab.errors import CommandError
from cephlab.k8s import plan_ops as ops
from tests.standins import tools
from tests.test_cluster_target import FakeKube, make_target

pytestmark = pytest.mark.standin

CLUSTER_STAGES = ("dashboard", "rook_operator", "ceph_cluster", "ceph_dashboard", "block_pool", "shared_filesystem",
                  "object_store", "extend_storage", "toolbox", "pg_num", "remove_node", "minio",
                  "mysql", "ghost")


def snapshot(kube) -> dict:
    """The stand-in cluster's objects (spec and data, not bookkeeping), OSDs and pools."""
    state = json.loads(Path(kube.cluster.path).read_text())
    objects = {k: {f: v for f, v in o.items() if f not in ("status",)} for k, o in state["objects"].items()}
    return copy.deepcopy({"objects": objects, "osds": state["osds"], "pools": state["pools"]})


@pytest.fixture
def standin_kube(tmp_path, monkeypatch):
    kube = FakeKube()
    log = tmp_path / "tools.log"
    bin_dir = tools.install(tmp_path / "fakebin", kube.cluster.path, log)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    return kube


def test_each_cluster_stage_run_twice_leaves_the_same_state(tmp_path, standin_kube):
    target = make_target(tmp_path, kube=standin_kube, allow_destructive=True)
    for slug in CLUSTER_STAGES:
        target.apply(stages.get(slug))
        once = snapshot(standin_kube)
        target.apply(stages.get(slug))
        assert snapshot(standin_kube) == once, f"stage {slug} changed the cluster when run again"
    # the run did what the lab says: 4 OSDs on the two kept hosts, pools at pg_num 150
    osds = sorted(o["host"] for o in snapshot(standin_kube)["osds"].values())
    assert osds == ["cephlab-worker2"] * 2 + ["cephlab-worker3"] * 2
    assert snapshot(standin_kube)["pools"]["replicapool"]["pg_num"] == "150"


def test_vagrant_stages_run_twice_and_an_unguarded_init_is_refused(tmp_path, monkeypatch):
    from tests.standins.cluster import FakeCluster, KubeFactory
    from tests.test_vagrant_target import NODES, new_lab, tool_bin

    log = tmp_path / "calls.jsonl"
    bin_dir = tool_bin(tmp_path, "vagrant", "kubectl", "VBoxManage", "curl")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("FAKE_VAGRANT_LOG", str(log))
    for var in ("VAGRANT_CWD", "VAGRANT_DOTFILE_PATH", "LAB_PROVIDER", "KUBECONFIG",
                "FAKE_VAGRANT_SSH_FAIL", "FAKE_KUBECTL_FAIL"):
        monkeypatch.delenv(var, raising=False)
    state = tmp_path / "cluster.json"
    FakeCluster(state, NODES)
    monkeypatch.setenv("FAKE_CLUSTER_STATE", str(state))
    monkeypatch.setattr("cephlab.k8s.kube_target.Kube", KubeFactory(state))
    lab_dir = tmp_path / "lab"
    lab = new_lab(lab_dir)
    lab.reach("master_isolation")
    machines = lab_dir / ".vagrant" / "fake-machines.json"
    target = lab.target
    for slug in ("kubernetes", "cni", "master_isolation"):
        before = (json.loads(machines.read_text()), FakeCluster(state).state["objects"])
        target.apply(stages.get(slug))                         # the stage again: no failure
        assert (json.loads(machines.read_text()), FakeCluster(state).state["objects"]) == before, slug
    # the same stage with kubeadm init unguarded fails on the stand-in VM, as kubeadm does
    plan = target.plans()[stages.get("kubernetes")]
    plan.ops = [ops.Ssh(op.node, op.argv) if isinstance(op, ops.Ssh) and op.argv[:2] == ("kubeadm", "init")
                else op for op in plan.ops]
    with pytest.raises(CommandError, match="Port 6443 is in use"):
        target.apply(stages.get("kubernetes"))
