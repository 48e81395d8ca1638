"""The cluster target without a cluster: bad input refused before any work, stages applied
against a fake API (in memory) with fake ``kubectl``/``helm``/``curl`` on PATH, and teardown
that removes only what the harness created."""

from __future__ import annotations

import copy
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from cephlab import stages
from cephlab.config import LabConfig
from cephlab.errors import ConfigError, LabError
from cephlab.k8s import checks
from cephlab.k8s.cluster_target import ClusterTarget
from cephlab.state import LabState
from cephlab.targets import why_not
from tests.conftest import ROOT, run_harness

EXAMPLE = ROOT / "examples" / "cluster-kind.yaml"
WORKERS = ["cephlab-worker", "cephlab-worker2", "cephlab-worker3"]
CONFIG = {"nodes": [{"name": n, "devices": [f"loop{10 + 2 * i}", f"loop{11 + 2 * i}"],
                     "address": f"172.18.0.{3 + i}"} for i, n in enumerate(WORKERS)]}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_kubeconfig(path: Path, server: str, contexts=("lab",), current="lab") -> Path:
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": current,
           "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
           "users": [{"name": "u", "user": {"token": "placeholder-not-a-credential"}}],
           "contexts": [{"name": c, "context": {"cluster": "c", "user": "u"}} for c in contexts]}
    path.write_text(yaml.safe_dump(doc))
    return path


def make_target(tmp_path, config=CONFIG, kube=None, **cfg_kw) -> ClusterTarget:
    conf_path = tmp_path / "cluster.yaml"
    if config is not None:
        conf_path.write_text(yaml.safe_dump(config) if isinstance(config, dict) else config)
    cfg = LabConfig(target="cluster", target_reason="test", lab_dir=tmp_path / "lab",
                    cluster_config=conf_path, **cfg_kw)
    target = ClusterTarget(cfg, LabState(cfg.lab_dir, "cluster"))
    target._kube = kube
    return target


class FakeKube:
    """The Kube interface over a dict; CRs report Ready and workloads ready once applied."""

    def __init__(self, nodes=None, pods=()):
        self.kubeconfig, self.context = "/fake/kubeconfig", "lab-ctx"
        self.store: dict[tuple, dict] = {}
        self.nodes = nodes if nodes is not None else [
            {"kind": "Node", "metadata": {"name": n},
             "status": {"conditions": [{"type": "Ready", "status": "True"}],
                        "addresses": [{"type": "InternalIP", "address": f"172.18.0.{3 + i}"}]}}
            for i, n in enumerate(WORKERS)]
        self.pods = list(pods)
        self.calls: list[tuple] = []

    def where(self):
        return "context 'lab-ctx' in kubeconfig /fake/kubeconfig"

    def probe_api(self, timeout=5.0):
        return "v1.34.9"

    def _key(self, o):
        return (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])

    def exists(self, o):
        return self._key(o) in self.store

    def apply(self, o):
        created = not self.exists(o)
        self.store[self._key(o)] = copy.deepcopy(o)
        self.calls.append(("apply", *self._key(o)))
        return created

    def create_if_absent(self, o):
        if self.exists(o):
            return False
        self.calls.append(("create", *self._key(o)))
        self.store[self._key(o)] = copy.deepcopy(o)
        return True

    def delete(self, ref):
        self.calls.append(("delete", ref["kind"], ref.get("namespace"), ref["name"]))
        return self.store.pop((ref["kind"], ref.get("namespace"), ref["name"]), None) is not None

    def merge_patch(self, ref, patch):
        self.calls.append(("patch", ref["kind"], ref["name"], patch))

    def pod_log(self, name, namespace, container=None, **kw):
        return f"last lines of {name}/{container}"

    def get_json(self, kind, name=None, namespace=None, *, label_selector=None, api_version=None):
        if kind == "Node":
            return self.nodes if name is None else next((n for n in self.nodes if n["metadata"]["name"] == name), None)
        if name is None:
            items = [p for p in self.pods if p["metadata"].get("namespace") == namespace] if kind == "Pod" else []
            if label_selector:
                k, _, v = label_selector.partition("=")
                items = [i for i in items if i["metadata"].get("labels", {}).get(k) == v]
            return items
        obj = self.store.get((kind, namespace, name))
        if obj is None and kind in ("Deployment", "CustomResourceDefinition"):
            obj = {"kind": kind, "metadata": {"name": name, "namespace": namespace}, "spec": {}}  # applied by URL
        if obj is None:
            return None
        obj = copy.deepcopy(obj)
        obj["status"] = {"phase": "Ready", "readyReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1,
                         "conditions": [{"type": t, "status": "True"} for t in ("Ready", "Established", "Complete")]}
        return obj


# ---------------------------------------------------------------------------- bad input
def test_missing_kubeconfig_names_the_file(tmp_path):
    target = make_target(tmp_path, kubeconfig=str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match=f"kubeconfig {tmp_path / 'nope.yaml'} does not exist"):
        target.sanity_checks()


def test_unknown_context_lists_the_contexts(tmp_path):
    kc = write_kubeconfig(tmp_path / "kc", "https://127.0.0.1:1", contexts=("kind-a", "kind-b"), current="kind-a")
    target = make_target(tmp_path, kubeconfig=str(kc), kube_context="kind-c")
    with pytest.raises(ConfigError, match=f"context 'kind-c' is not in kubeconfig {kc}; it has: kind-a, kind-b"):
        target.sanity_checks()


def test_unreachable_api_names_kubeconfig_and_context_fast(tmp_path):
    port = closed_port()
    kc = write_kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{port}", contexts=("kind-lab",), current="kind-lab")
    target = make_target(tmp_path, kubeconfig=str(kc))
    start = time.monotonic()
    with pytest.raises(ConfigError) as err:
        target.sanity_checks()
    assert time.monotonic() - start < 10
    assert str(err.value).startswith(
        f"cannot reach the Kubernetes API of context 'kind-lab' in kubeconfig {kc}: ")
    assert "refused" in str(err.value).lower()


@pytest.mark.parametrize("text,message", [
    (None, "does not exist"),
    ("nodes: [", "is not valid YAML"),
    ("nodes: []", "nodes must be a non-empty list"),
    ("nodes: [{name: a, devices: [sdc, sdd]}]\nextra: 1", r"unknown key\(s\) extra \(allowed: nodes\)"),
    ("nodes: [{name: a, devices: [sdc, sdd], disks: 2}]", r"nodes\[0\] has unknown key\(s\) disks"),
    ("nodes: [{name: a, devices: []}]", r"nodes\[0\] \(a\): devices must be a non-empty list"),
    ("nodes: [{name: a, devices: [sdc]}]", "list exactly 2 devices"),
    ("nodes: [{name: a, devices: [sdc, sdc]}]", "device listed twice"),
    ("nodes: [{name: A_1, devices: [sdc, sdd]}]", "must be a Kubernetes node name"),
    ("nodes: [{name: a, devices: [sdc, sdd], address: 10.0.0}]", "is not an IP address"),
    ("nodes: [{name: a, devices: [sdc, sdd]}, {name: a, devices: [sdc, sdd]}]", "node\\(s\\) listed twice: a"),
    ("nodes: [{name: a, devices: [loop1, loop2]}, {name: b, devices: [loop2, loop3]}]",
     "loop device\\(s\\) loop2 listed for more than one node"),
    ("nodes: [{name: a, devices: [sdc, sdd]}, {name: b, devices: [sdc, sdd]}]", "list exactly 3 nodes"),
])
def test_bad_cluster_config_is_refused_before_any_work(tmp_path, monkeypatch, text, message):
    monkeypatch.setattr("cephlab.k8s.cluster_target.shutil.which", lambda name: f"/usr/bin/{name}")
    kube = FakeKube()
    target = make_target(tmp_path, config=text, kube=kube)
    with pytest.raises(ConfigError, match=message):
        target.sanity_checks()
    assert not kube.calls and not target.state.exists


def test_nodes_must_fit_the_cluster(tmp_path, monkeypatch):
    monkeypatch.setattr("cephlab.k8s.cluster_target.shutil.which", lambda name: f"/usr/bin/{name}")
    kube = FakeKube()
    kube.nodes[1]["spec"] = {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}
    conf = copy.deepcopy(CONFIG)
    conf["nodes"][0]["address"] = "172.18.0.99"
    conf["nodes"][2]["name"] = "cephlab-worker7"
    with pytest.raises(ConfigError) as err:
        make_target(tmp_path, config=conf, kube=kube).sanity_checks()
    text = str(err.value)
    assert "does not fit context 'lab-ctx' in kubeconfig /fake/kubeconfig (Kubernetes v1.34.9)" in text
    assert "nodes not registered: cephlab-worker7" in text
    assert "cephlab-worker carries" not in text and "cephlab-worker2 carries NoSchedule taint" in text
    make_target(tmp_path, kube=FakeKube()).sanity_checks()  # the fitting config passes


def test_missing_kubectl_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr("cephlab.k8s.cluster_target.shutil.which", lambda name: None)
    with pytest.raises(ConfigError, match="`kubectl`, which is not on PATH"):
        make_target(tmp_path, kube=FakeKube()).sanity_checks()


def test_the_example_config_loads():
    from cephlab.k8s import cluster_config
    conf = cluster_config.load(EXAMPLE)
    assert len(conf.names) == 3 and conf.uses_loop_devices()


# ---------------------------------------------------------------------------- stages
def test_provided_stages_skip_saying_the_cluster_has_them():
    for slug in ("vms", "kubernetes", "cni", "master_isolation"):
        reason = why_not(ClusterTarget, stages.get(slug))
        assert reason and "existing" in reason, (slug, reason)
    for slug in ("rook_operator", "ceph_cluster", "remove_node", "minio", "ghost"):
        assert why_not(ClusterTarget, stages.get(slug)) is None


def test_destructive_stage_is_refused_without_the_allowance(tmp_path):
    target = make_target(tmp_path, kube=FakeKube())
    stage = stages.get("remove_node")
    assert "--lab-allow-destructive=yes" in why_not(ClusterTarget, stage, target.cfg)
    allowed = make_target(tmp_path, kube=FakeKube(), allow_destructive=True)
    assert why_not(ClusterTarget, stage, allowed.cfg) is None


@pytest.fixture
def fake_tools(tmp_path, monkeypatch):
    """kubectl, helm and curl that log their argv and succeed."""
    bin_dir, log = tmp_path / "fakebin", tmp_path / "tools.log"
    bin_dir.mkdir()
    for tool in ("kubectl", "helm", "curl"):
        script = bin_dir / tool
        script.write_text(f"#!/bin/sh\necho \"{tool} $*\" >> {log}\n"
                          # six OSD deployments when counted (extend_storage), else OSD ids 0 and 3
                          'case "$*" in *--no-headers*) seq 6;; *) echo 0 3;; esac\n')
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return log


def test_apply_records_objects_in_stage_order(tmp_path, fake_tools):
    kube = FakeKube()
    target = make_target(tmp_path, kube=kube)
    for slug in ("rook_operator", "ceph_cluster", "block_pool", "shared_filesystem", "toolbox",
                 "minio", "extend_storage"):
        target.apply(stages.get(slug))
    refs = target.state.get("k8s_applied")
    assert [(r["stage"], r["kind"], r["name"]) for r in refs] == [
        ("ceph_cluster", "CephCluster", "rook-ceph"),
        ("block_pool", "CephBlockPool", "replicapool"), ("block_pool", "StorageClass", "rook-ceph-block"),
        ("shared_filesystem", "CephFilesystem", "k8s-fs"),
        ("toolbox", "Deployment", "rook-ceph-tools"),
        ("minio", "PersistentVolume", "cephfs-root"), ("minio", "PersistentVolumeClaim", "cephfs-root"),
        ("minio", "Pod", "cephfs-helper"), ("minio", "Secret", "minio-credentials"),
        ("minio", "PersistentVolume", "minio-data"), ("minio", "PersistentVolumeClaim", "minio-data"),
        ("minio", "Deployment", "minio"), ("minio", "Service", "minio"),
    ]
    assert all(r["created"] for r in refs)
    assert ("create", "Secret", "default", "minio-credentials") in kube.calls  # never applied over
    cluster = kube.store[("CephCluster", "rook-ceph", "rook-ceph")]  # extend_storage re-applied it
    assert cluster["spec"]["storage"]["nodes"] == [
        {"name": n, "devices": [{"name": f"loop{10 + 2 * i}"}, {"name": f"loop{11 + 2 * i}"}]}
        for i, n in enumerate(WORKERS)]
    log = fake_tools.read_text()
    assert "kubectl --context lab-ctx apply --server-side -f https://raw.githubusercontent.com/rook/rook/" in log
    assert "ROOK_CEPH_ALLOW_LOOP_DEVICES" in log
    assert "curl -sf http://172.18.0.3:30010/minio/health/ready" in log   # the lab's 10.254.1.2 replaced
    assert "10.254.1.2" not in log and "wait" not in log and "rollout status" not in log  # waits in Python


def test_remove_node_wipes_only_the_first_configured_nodes_devices(tmp_path, fake_tools):
    target = make_target(tmp_path, kube=FakeKube(), allow_destructive=True)
    target.apply(stages.get("remove_node"))
    script = (tmp_path / "lab" / "work" / "14_remove_node" / "wipe-disks.sh").read_text()
    assert "for dev in /dev/loop10 /dev/loop11; do" in script
    log = fake_tools.read_text()
    assert "debug node/cephlab-worker --profile=sysadmin" in log
    assert "osd purge 0 --yes-i-really-mean-it" in log and "osd purge 3 --yes-i-really-mean-it" in log


def test_a_wait_fails_fast_on_an_image_pull_backoff(tmp_path, fake_tools):
    stuck = {"kind": "Pod", "metadata": {"name": "rook-ceph-mon-a-1", "namespace": "rook-ceph", "labels": {}},
             "status": {"phase": "Pending", "containerStatuses": [{
                 "name": "mon", "image": "quay.io/ceph/ceph:v20.2.4", "ready": False, "restartCount": 0,
                 "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]}}
    kube = FakeKube(pods=[stuck])
    kube.get_json = _never_ready(kube.get_json)
    start = time.monotonic()
    with pytest.raises(checks.PodFailed, match="(?s)rook-ceph-mon-a-1 container mon: ImagePullBackOff.*"
                                               "--- log tail ---\nlast lines of rook-ceph-mon-a-1/mon"):
        make_target(tmp_path, kube=kube).apply(stages.get("ceph_cluster"))
    assert time.monotonic() - start < 5


def _never_ready(get_json):
    def wrapped(kind, name=None, namespace=None, **kw):
        obj = get_json(kind, name, namespace, **kw)
        if name is not None and obj is not None and kind == "CephCluster":
            obj["status"] = {"phase": "Progressing"}
        return obj
    return wrapped


# ---------------------------------------------------------------------------- teardown
def test_destroy_deletes_only_what_the_harness_created_never_nodes(tmp_path, fake_tools):
    kube = FakeKube()
    target = make_target(tmp_path, kube=kube, allow_destructive=True)
    for slug in ("ceph_cluster", "block_pool"):
        target.apply(stages.get(slug))
    refs = target.state.get("k8s_applied")
    refs.append({"apiVersion": "v1", "kind": "Node", "name": "cephlab-worker", "namespace": None,
                 "stage": "ceph_cluster", "created": True})     # a tampered record
    refs.append({"apiVersion": "v1", "kind": "ConfigMap", "name": "users-own", "namespace": "default",
                 "stage": "block_pool", "created": False})      # existed before the harness
    target.state.put("k8s_applied", refs)
    kube.store[("ConfigMap", "default", "users-own")] = {"kind": "ConfigMap", "metadata": {"name": "users-own"}}
    deleted = target.destroy()
    assert deleted == ["StorageClass rook-ceph-block", "CephBlockPool rook-ceph/replicapool",
                       "CephCluster rook-ceph/rook-ceph"]
    kinds = [c[1] for c in kube.calls if c[0] == "delete"]
    assert "Node" not in kinds and "ConfigMap" not in kinds
    assert ("ConfigMap", "default", "users-own") in kube.store
    patch = next(c for c in kube.calls if c[0] == "patch")
    assert patch[3]["spec"]["cleanupPolicy"]["confirmation"] == "yes-really-destroy-data"
    assert kube.calls.index(patch) < kube.calls.index(("delete", "CephCluster", "rook-ceph", "rook-ceph"))
    assert not target.state.path.exists()


def test_destroy_without_allowance_keeps_the_disks(tmp_path, fake_tools):
    kube = FakeKube()
    target = make_target(tmp_path, kube=kube)
    target.apply(stages.get("ceph_cluster"))
    assert target.destroy() == ["CephCluster rook-ceph/rook-ceph"]
    assert not [c for c in kube.calls if c[0] == "patch"]


# ---------------------------------------------------------------------------- the harness
def test_harness_exits_4_naming_kubeconfig_and_context(tmp_path):
    kc = write_kubeconfig(tmp_path / "unreachable.kubeconfig", "https://127.0.0.1:1",
                          contexts=("kind-cephlab",), current="kind-cephlab")
    start = time.monotonic()
    res = run_harness("--lab-target=cluster", f"--kubeconfig={kc}", f"--lab-dir={tmp_path / 'lab'}",
                      "-k", "ceph_cluster", timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode == 4, out[-2000:]
    assert f"cannot reach the Kubernetes API of context 'kind-cephlab' in kubeconfig {kc}" in out
    assert time.monotonic() - start < 60
    assert not (tmp_path / "lab").exists()


# ---------------------------------------------------------------------------- the client wrapper
def test_kube_wrapper_calls_the_dynamic_client_as_intended():
    from unittest import mock

    from kubernetes.dynamic.exceptions import NotFoundError

    from cephlab.k8s.kube import Kube

    kube = Kube("/kc", "ctx", api_client=object())
    res = mock.MagicMock(namespaced=True)
    kube._dyn = mock.MagicMock()
    kube._dyn.resources.get.return_value = res
    missing = NotFoundError(mock.MagicMock(status=404, reason="Not Found", body=b"{}", headers={}))
    res.get.side_effect = [missing, None]           # exists? no -> create; then the apply
    cluster = {"apiVersion": "ceph.rook.io/v1", "kind": "CephCluster",
               "metadata": {"name": "rook-ceph", "namespace": "rook-ceph"}}
    assert kube.apply(cluster) is True
    kube._dyn.resources.get.assert_called_with(api_version="ceph.rook.io/v1", kind="CephCluster")
    res.server_side_apply.assert_called_once_with(
        body=cluster, name="rook-ceph", namespace="rook-ceph", field_manager="cephlab",
        force_conflicts=True, _request_timeout=15.0)
    res.get.side_effect = None
    res.get.return_value.to_dict.return_value = {"items": [{"metadata": {"name": "p"}}]}
    assert kube.get_json("Pod", namespace="rook-ceph", label_selector="app=x") == [{"metadata": {"name": "p"}}]
    assert res.get.call_args.kwargs == {"_request_timeout": 15.0, "namespace": "rook-ceph", "label_selector": "app=x"}
    res.get.side_effect = missing
    assert kube.get_json("CephCluster", "gone", "rook-ceph") is None
    res.delete.side_effect = missing
    assert kube.delete({"apiVersion": "v1", "kind": "Pod", "name": "gone", "namespace": "default"}) is False
    with pytest.raises(LabError, match="Secrets are not read whole"):
        kube.get_json("Secret", "mysql-credentials", "default")
