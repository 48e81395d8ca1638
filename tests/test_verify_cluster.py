"""Verify mode on the cluster target, against the stand-ins of tests/standins: a lab made by
hand with ``kubectl apply`` (Rook's manifests by URL, the CephCluster, pools, filesystem,
toolbox, plus objects of the learner's own that the harness never made and does not own),
no lab state of the harness at all. ``pytest features/ --lab-target=cluster --lab-mode=verify``
runs without --lab-allow-destructive, grades every stage, and writes nothing: the stand-in
``kubectl`` logs no apply/create/patch/scale/delete/taint, the in-process API records no
write, and the stand-in's state is identical before and after.

What the stand-ins cannot show: the toolbox stand-in answers ``ceph`` with a summary of its
OSDs and pools, not Ceph's JSON, and its pods carry no container statuses, so no outcome is
graded "holds" here (the local target's tests grade them on a real cluster); this test is
about what a verify run does to a cluster (nothing) and that every stage gets its row.
"""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from cephlab import versions
from cephlab.k8s import made_by_others
from tests.conftest import run_harness
from tests.standins import tools
from tests.standins.cluster import FakeCluster

pytestmark = pytest.mark.standin

NODES = ("k8s-1", "k8s-2", "k8s-3")
WRITES = ("apply", "create", "patch", "scale", "delete", "taint", "label", "annotate", "replace",
          "edit", "set", "rollout", "cordon", "drain")


def hand_built(state: Path) -> FakeCluster:
    """What a learner's `kubectl apply` of the lab leaves (field manager kubectl)."""
    cluster = FakeCluster(state, NODES, tuple(f"10.254.1.{i + 2}" for i in range(3)))
    for url in versions.ROOK_MANIFESTS:
        cluster.add_provided(made_by_others.url_objects(url))
    meta = lambda name, ns="rook-ceph": {"name": name, "namespace": ns}  # noqa: E731
    for obj in (
        {"apiVersion": "ceph.rook.io/v1", "kind": "CephCluster", "metadata": meta("rook-ceph"),
         "spec": {"storage": {"useAllNodes": False, "useAllDevices": False,
                              "nodes": [{"name": n, "devices": [{"name": "sdc"}, {"name": "sdd"}]}
                                        for n in NODES[1:]]}}},
        {"apiVersion": "ceph.rook.io/v1", "kind": "CephBlockPool", "metadata": meta("replicapool"),
         "spec": {"replicated": {"size": 2}, "failureDomain": "host"}},
        {"apiVersion": "ceph.rook.io/v1", "kind": "CephFilesystem", "metadata": meta("k8s-fs"),
         "spec": {"metadataPool": {"replicated": {"size": 2}},
                  "dataPools": [{"name": "data0", "replicated": {"size": 2}, "failureDomain": "osd"}],
                  "metadataServer": {"activeCount": 1, "activeStandby": True}}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("rook-ceph-tools"),
         "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": "rook-ceph-tools"}}}}},
        # the learner's own objects: the harness never made them and must not touch them
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("my-notes", "default"),
         "data": {"stage": "14 done, mysql next"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("my-nginx", "default"),
         "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": "my-nginx"}}}}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {**meta("rook-ceph-operator-x"),
                                                         "labels": {"app": "rook-ceph-operator"}}},
    ):
        cluster.apply(obj, "kubectl-client-side-apply")
    return cluster


@pytest.fixture
def world(tmp_path):
    state = tmp_path / "cluster.json"
    hand_built(state)
    bin_dir = tools.install(tmp_path / "bin", state, tmp_path / "kubectl.log")
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "lab",
        "clusters": [{"name": "c", "cluster": {"server": "https://10.254.1.2:6443"}}],
        "users": [{"name": "u", "user": {"token": "placeholder-not-a-credential"}}],
        "contexts": [{"name": "lab", "context": {"cluster": "c", "user": "u"}}]}))
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump({"nodes": [
        {"name": n, "devices": ["sdc", "sdd"], "address": f"10.254.1.{i + 2}"}
        for i, n in enumerate(NODES)]}))
    env = {"STANDIN_STATE": str(state), "STANDIN_CALLS": str(tmp_path / "calls.json"),
           "PATH": f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
           "KUBECONFIG": ""}
    return tmp_path, env


def test_cluster_verify_grades_every_stage_and_writes_nothing(world):
    tmp, env = world
    before = json.loads((tmp / "cluster.json").read_text())
    junit = tmp / "junit.xml"
    res = run_harness("--lab-target=cluster", "--lab-mode=verify", f"--lab-dir={tmp / 'lab'}",
                      f"--kubeconfig={tmp / 'kubeconfig'}", f"--lab-cluster-config={tmp / 'cluster.yaml'}",
                      "--lab-reached=remove_node", "--lab-timeout-scale=0.05",
                      "-p", "tests.verify_cluster_plugin", "-k", "not browser", f"--junitxml={junit}",
                      env=env, timeout=900)
    out = res.stdout
    assert "lab grade (verify mode: nothing was changed)" in out, out[-4000:] + res.stderr[-3000:]
    assert "the lab reached stage remove_node (--lab-reached)" in out
    # nothing written, by kubectl or by the in-process API; the stand-in's state is as it was
    log = (tmp / "kubectl.log").read_text().splitlines()
    writes = [line for line in log if line.split()[1:2] and line.split()[1] in WRITES]
    assert not writes, writes
    calls = json.loads((tmp / "calls.json").read_text())
    assert not [c for c in calls if c[0] in ("apply", "create", "delete", "patch")], calls
    after = json.loads((tmp / "cluster.json").read_text())
    # the stand-in's Ceph keeps an (empty) image table once an image was made: the scratch
    # image, created and removed again
    if after.get("images") == {} and "images" not in before:
        after.pop("images")
    assert after == before
    assert not (tmp / "lab" / "state.json").exists()
    # every stage has a row; the learner's objects are untouched; no destructive allowance asked
    grades = {}
    for prop in ET.parse(junit).iter("property"):
        if prop.get("name") == "lab grade":
            stage, _, rest = prop.get("value").partition(": ")
            grades.setdefault(stage.split()[1], []).append(rest)
    assert {"rook_operator", "ceph_cluster", "remove_node", "mysql", "ghost"} <= set(grades), grades
    assert all(g.split(":")[0] in ("holds", "does not hold", "not reached", "cannot check here")
               for rows in grades.values() for g in rows), grades
    # the operator is there, but the stand-in's pods report no container status: graded, named
    assert all("Rook operator" in g for g in grades["rook_operator"]), grades["rook_operator"]
    assert all(g.startswith("not reached") for g in grades["mysql"] + grades["ghost"]), grades
    assert not any("lab-allow-destructive" in g for g in grades["remove_node"]), grades["remove_node"]
    assert any(line.startswith("kubectl") and " exec " in f" {line} " for line in log), log[:5]
