"""The cluster target without a cluster: bad input refused before any work, stages applied
against a fake API (in memory) with fake ``kubectl``/``helm``/``curl`` on PATH, and teardown
that removes only what the harness created."""

from __future__ import annotations

import copy
import os
import socket
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from cephlab import stages
from cephlab.config import LabConfig
from cephlab.errors import ConfigError, LabError
from cephlab.k8s import kube_checks
from cephlab.k8s.cluster_target import ClusterTarget
from cephlab.state import LabState
from cephlab.targets import why_not
from tests.conftest import ROOT
from tests.standins import tools
from tests.standins.cluster import FakeCluster
from tests.standins.cluster import FakeKube as StandinKube

pytestmark = pytest.mark.standin

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


_API_DIRS = tempfile.TemporaryDirectory(prefix="cephlab-api-")  # removed when the module is unloaded


def FakeKube(pods=()) -> StandinKube:
    """The stateful stand-in API (tests/standins) with the three worker nodes registered; its
    state file lives in one directory per test session, removed at exit (it was one directory
    per call in /tmp, never removed: 2218 were found after a few sessions)."""
    kube = StandinKube(FakeCluster(Path(tempfile.mkdtemp(dir=_API_DIRS.name)) / "cluster.json",
                                   tuple(WORKERS)))
    kube.pods = list(pods)
    return kube


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
    kube.cluster.patch("Node", WORKERS[1], None, {"spec": {"taints": [
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}})
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


class Standins:
    def __init__(self, kube, log: Path):
        self.kube, self.log = kube, log

    def calls(self) -> str:
        return self.log.read_text()


@pytest.fixture
def standins(tmp_path, monkeypatch) -> Standins:
    """The stateful stand-ins: a fake API behind ``kube`` and ``kubectl``/``helm``/``curl`` on
    PATH over the same cluster state (tests/standins)."""
    kube = FakeKube()
    log = tmp_path / "tools.log"
    log.touch()
    bin_dir = tools.install(tmp_path / "fakebin", kube.cluster.path, log)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    return Standins(kube, log)


def test_apply_records_objects_in_stage_order(tmp_path, standins):
    kube = standins.kube
    target = make_target(tmp_path, kube=kube)
    for slug in ("rook_operator", "ceph_cluster", "block_pool", "shared_filesystem", "toolbox",
                 "minio", "extend_storage"):
        target.apply(stages.get(slug))
    refs = target.state.get("k8s_applied")
    assert [(r["stage"], r["kind"], r["name"]) for r in refs] == [
        ("ceph_cluster", "CephCluster", "rook-ceph"), ("ceph_cluster", "Deployment", "rook-ceph-tools"),
        ("block_pool", "CephBlockPool", "replicapool"), ("block_pool", "StorageClass", "rook-ceph-block"),
        ("shared_filesystem", "CephFilesystem", "k8s-fs"),
        ("minio", "PersistentVolume", "cephfs-root"), ("minio", "PersistentVolumeClaim", "cephfs-root"),
        ("minio", "Pod", "cephfs-helper"), ("minio", "Secret", "minio-credentials"),
        ("minio", "PersistentVolume", "minio-data"), ("minio", "PersistentVolumeClaim", "minio-data"),
        ("minio", "Deployment", "minio"), ("minio", "Service", "minio"),
    ]
    assert all(r["created"] for r in refs)
    assert ("create", "Secret", "default", "minio-credentials") in kube.calls  # never applied over
    cluster = kube.get_json("CephCluster", "rook-ceph", "rook-ceph")  # extend_storage re-applied it
    assert cluster["spec"]["storage"]["nodes"] == [
        {"name": n, "devices": [{"name": f"loop{10 + 2 * i}"}, {"name": f"loop{11 + 2 * i}"}]}
        for i, n in enumerate(WORKERS)]
    assert len(kube.get_json("Deployment", namespace="rook-ceph", label_selector="app=rook-ceph-osd")) == 6
    log = standins.calls()
    # every upstream manifest is downloaded with retries, then applied
    assert ("curl -fsSL --retry 5 --retry-connrefused --retry-all-errors --retry-delay 3 --max-time 120 "
            "https://raw.githubusercontent.com/rook/rook/") in log
    assert "kubectl --context lab-ctx apply --server-side -f -" in log
    # loop devices allowed in what is applied (operator.yaml edited), never by a later patch
    config = kube.get_json("ConfigMap", "rook-ceph-operator-config", "rook-ceph")
    assert config["data"]["ROOK_CEPH_ALLOW_LOOP_DEVICES"] == "true" and " patch " not in log
    assert "http://172.18.0.3:30010/minio/health/ready" in log   # the node's address, passed in
    assert "10.254.1.2" not in log and " wait " not in log and "rollout status" not in log  # waits in Python


def test_rook_objects_appear_only_after_the_cr_and_its_crd(tmp_path, standins):
    from tests.standins.cluster import ApiError
    kube = standins.kube
    target = make_target(tmp_path, kube=kube)
    with pytest.raises(RuntimeError, match='no matches for kind "CephCluster"'):
        target.apply(stages.get("ceph_cluster"))               # no CRD yet: refused
    target.apply(stages.get("rook_operator"))
    assert kube.get_json("Secret", "rook-csi-rbd-node", "rook-ceph") is None
    target.apply(stages.get("ceph_cluster"))
    assert kube.get_json("Secret", "rook-csi-rbd-node", "rook-ceph") is not None
    assert kube.get_json("Service", "rook-ceph-mgr-dashboard", "rook-ceph") is not None
    with pytest.raises(ApiError, match='namespaces "nowhere" not found'):
        kube.cluster.apply({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "x", "namespace": "nowhere"}})


def test_the_old_loop_device_patch_conflicts_on_a_second_run(tmp_path, standins):
    """Review item 10: a `kubectl patch` of the operator config takes the field; the next run's
    server-side apply of operator.yaml stops on the conflict. The plan's edited apply does not."""
    import subprocess
    from cephlab import versions
    kubectl = ["kubectl", "-n", "rook-ceph"]
    run = lambda *a: subprocess.run([*kubectl, *a], capture_output=True, text=True)  # noqa: E731
    target = make_target(tmp_path, kube=standins.kube)
    target.apply(stages.get("rook_operator"))                   # the plan: edited operator.yaml
    again = run("apply", "--server-side", "-f", versions.ROOK_MANIFESTS[3])
    assert again.returncode == 0, again.stderr                  # the same manager: no conflict
    standins.kube.cluster = FakeCluster(standins.kube.cluster.path)
    standins.kube.cluster.patch("ConfigMap", "rook-ceph-operator-config", "rook-ceph",
                                {"data": {"ROOK_CEPH_ALLOW_LOOP_DEVICES": "true"}})   # the old way
    second = run("apply", "--server-side", "-f", versions.ROOK_MANIFESTS[3])
    assert second.returncode != 0 and "conflict" in second.stderr


def test_remove_node_wipes_only_the_first_configured_nodes_devices(tmp_path, standins):
    target = make_target(tmp_path, kube=standins.kube, allow_destructive=True)
    for slug in ("rook_operator", "ceph_cluster", "extend_storage"):
        target.apply(stages.get(slug))
    target.apply(stages.get("remove_node"))
    script = (tmp_path / "lab" / "work" / "14_remove_node" / "wipe-disks.sh").read_text()
    assert "for dev in /dev/loop10 /dev/loop11; do" in script
    log = standins.calls()
    assert "debug node/cephlab-worker --profile=sysadmin" in log
    assert "osd purge 0 --yes-i-really-mean-it" in log and "osd purge 3 --yes-i-really-mean-it" in log
    assert "osd crush rm cephlab-worker" in log
    osds = standins.kube.cluster.state["osds"]
    assert sorted(o["host"] for o in FakeCluster(standins.kube.cluster.path).state["osds"].values()) == \
        ["cephlab-worker2"] * 2 + ["cephlab-worker3"] * 2, osds


def test_purge_before_the_osd_pods_are_gone_is_refused(tmp_path, standins):
    """Review item 6, on the stand-in: an OSD whose daemon still runs marks itself up, and
    purge fails with EBUSY; the plan waits for the pods to go first."""
    import subprocess
    target = make_target(tmp_path, kube=standins.kube, allow_destructive=True)
    for slug in ("rook_operator", "ceph_cluster"):
        target.apply(stages.get(slug))
    tb = ["kubectl", "-n", "rook-ceph", "exec", "deploy/rook-ceph-tools", "--", "ceph"]
    for args in (("osd", "out", "osd.0"), ("osd", "down", "osd.0")):
        subprocess.run([*tb, *args], check=True, capture_output=True)
    purge = subprocess.run([*tb, "osd", "purge", "0", "--yes-i-really-mean-it"], capture_output=True, text=True)
    assert purge.returncode == 16 and "EBUSY" in purge.stderr


def test_exec_into_a_missing_toolbox_is_refused(tmp_path, standins):
    import subprocess
    res = subprocess.run(["kubectl", "-n", "rook-ceph", "exec", "deploy/rook-ceph-tools", "--", "ceph",
                          "status"], capture_output=True, text=True)
    assert res.returncode == 1 and 'deployments.apps "rook-ceph-tools" not found' in res.stderr


def test_a_wait_fails_fast_on_an_image_pull_backoff(tmp_path, standins):
    stuck = {"kind": "Pod", "metadata": {"name": "rook-ceph-mon-a-1", "namespace": "rook-ceph", "labels": {}},
             "status": {"phase": "Pending", "containerStatuses": [{
                 "name": "mon", "image": "quay.io/ceph/ceph:v20.2.4", "ready": False, "restartCount": 0,
                 "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]}}
    kube = standins.kube
    target = make_target(tmp_path, kube=kube)
    target.apply(stages.get("rook_operator"))
    kube.pods = [stuck]
    kube.cluster.scale("rook-ceph-operator", "rook-ceph", 0)      # nothing reconciles: never Ready
    kube.get_json = _never_ready(kube.get_json)
    start = time.monotonic()
    with pytest.raises(kube_checks.PodFailed, match="(?s)rook-ceph-mon-a-1 container mon: ImagePullBackOff.*"
                                               "--- log tail ---\nlast lines of rook-ceph-mon-a-1/mon"):
        target.apply(stages.get("ceph_cluster"))
    assert time.monotonic() - start < 5


def _never_ready(get_json):
    def wrapped(kind, name=None, namespace=None, **kw):
        obj = get_json(kind, name, namespace, **kw)
        if name is not None and obj is not None and kind == "CephCluster":
            obj["status"] = {"phase": "Progressing"}
        return obj
    return wrapped


# ---------------------------------------------------------------------------- teardown
def test_destroy_deletes_only_what_the_harness_created_never_nodes(tmp_path, standins):
    kube = standins.kube
    target = make_target(tmp_path, kube=kube, allow_destructive=True)
    for slug in ("rook_operator", "ceph_cluster", "block_pool"):
        target.apply(stages.get(slug))
    refs = target.state.get("k8s_applied")
    refs.append({"apiVersion": "v1", "kind": "Node", "name": "cephlab-worker", "namespace": None,
                 "stage": "ceph_cluster", "created": True})     # a tampered record
    refs.append({"apiVersion": "v1", "kind": "ConfigMap", "name": "users-own", "namespace": "default",
                 "stage": "block_pool", "created": False})      # existed before the harness
    target.state.put("k8s_applied", refs)
    kube.cluster.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "users-own",
                                                                            "namespace": "default"}})
    deleted = target.destroy()
    assert deleted == ["StorageClass rook-ceph-block", "CephBlockPool rook-ceph/replicapool",
                       "Deployment rook-ceph/rook-ceph-tools", "CephCluster rook-ceph/rook-ceph"]
    kinds = [c[1] for c in kube.calls if c[0] == "delete"]
    assert "Node" not in kinds and "ConfigMap" not in kinds
    assert kube.get_json("ConfigMap", "users-own", "default") is not None
    assert kube.get_json("Node", "cephlab-worker") is not None
    patch = next(c for c in kube.calls if c[0] == "patch")
    assert patch[3]["spec"]["cleanupPolicy"]["confirmation"] == "yes-really-destroy-data"
    assert kube.calls.index(patch) < kube.calls.index(("delete", "CephCluster", "rook-ceph", "rook-ceph"))
    assert not target.state.path.exists()


def test_destroy_without_allowance_keeps_the_disks(tmp_path, standins):
    kube = standins.kube
    target = make_target(tmp_path, kube=kube)
    target.apply(stages.get("rook_operator"))
    target.apply(stages.get("ceph_cluster"))
    assert target.destroy() == ["Deployment rook-ceph/rook-ceph-tools", "CephCluster rook-ceph/rook-ceph"]
    assert not [c for c in kube.calls if c[0] == "patch"]


# ---------------------------------------------------------------------------- the harness
def test_harness_exits_4_naming_kubeconfig_and_context(tmp_path, harness_in_process):
    kc = write_kubeconfig(tmp_path / "unreachable.kubeconfig", "https://127.0.0.1:1",
                          contexts=("kind-cephlab",), current="kind-cephlab")
    start = time.monotonic()
    res = harness_in_process("--lab-target=cluster", f"--kubeconfig={kc}", f"--lab-dir={tmp_path / 'lab'}",
                      "-k", "ceph_cluster")
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


def test_crush_host_follows_rooks_naming_from_the_hostname_label(tmp_path):
    kube = FakeKube()
    kube.cluster.patch("Node", WORKERS[0], None,
                       {"metadata": {"labels": {"kubernetes.io/hostname": "worker.a.example"}}})
    target = make_target(tmp_path, kube=kube)
    assert target.crush_host("k8s-1") == "worker-a-example"
    assert target.crush_host("k8s-2") == "cephlab-worker2"
    from cephlab.k8s.plan_ops import RemoveOsds
    (remove,) = [op for op in target.plans()[stages.get("remove_node")].ops if isinstance(op, RemoveOsds)]
    assert remove.crush_host == "worker-a-example"
