"""The Kubernetes checks on API objects in the shape ``kubectl get -o json`` gives.

The objects are written by hand in that shape (camelCase keys, status as the API server
reports it, names as Rook v1.20 and kind create them); no cluster recorded them.
"""

from __future__ import annotations

import copy

import pytest

from cephlab.errors import DaemonExited
from cephlab.k8s import kube_checks

pytestmark = pytest.mark.unit


def node(name, ip, ready=True, taints=None):
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"podCIDR": "10.244.1.0/24", **({"taints": taints} if taints else {})},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip},
                          {"type": "Hostname", "address": name}],
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                {"type": "Ready", "status": "True" if ready else "False",
                 "reason": "KubeletReady" if ready else "KubeletNotReady",
                 "message": "kubelet is posting ready status" if ready
                 else "container runtime network not ready: NetworkReady=false"},
            ],
        },
    }


def pod(name, labels, phase="Running", ready=True, waiting=None, restarts=0, image="quay.io/ceph/ceph:v20.2.4",
        container="osd", ns="rook-ceph", last_exit=None):
    state = {"waiting": waiting} if waiting else {"running": {"startedAt": "2026-09-01T10:00:00Z"}}
    status = {"name": container, "image": image, "ready": ready, "restartCount": restarts,
              "state": state, "started": ready}
    if last_exit:
        status["lastState"] = {"terminated": last_exit}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"nodeName": "cephlab-worker", "containers": [{"name": container, "image": image}]},
        "status": {"phase": phase, "containerStatuses": [status],
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


NODES = [node("cephlab-worker", "172.18.0.3"), node("cephlab-worker2", "172.18.0.4"),
         node("cephlab-worker3", "172.18.0.5")]
NAMES = ["cephlab-worker", "cephlab-worker2", "cephlab-worker3"]


# ---------------------------------------------------------------------------- nodes
def test_nodes_registered_ready_and_addressed():
    assert list(kube_checks.assert_nodes_registered(NODES, NAMES)) == NAMES
    assert kube_checks.assert_nodes_ready(NODES, NAMES) == NAMES
    ips = {"cephlab-worker2": "172.18.0.4"}
    assert kube_checks.assert_internal_ips(NODES, ips) == ips


def test_missing_notready_and_wrong_address_are_named():
    with pytest.raises(AssertionError, match=r"nodes not registered: k8s-9 \(registered: cephlab-worker, "):
        kube_checks.assert_nodes_registered(NODES, ["cephlab-worker", "k8s-9"])
    nodes = [*NODES[:2], node("cephlab-worker3", "172.18.0.5", ready=False)]
    with pytest.raises(AssertionError, match="cephlab-worker3 is NotReady \\(KubeletNotReady: container runtime"):
        kube_checks.assert_nodes_ready(nodes, NAMES)
    nat = node("k8s-1", "10.0.2.15")
    with pytest.raises(AssertionError, match="k8s-1 has InternalIP 10.0.2.15, expected 10.254.1.2"):
        kube_checks.assert_internal_ips([nat], {"k8s-1": "10.254.1.2"})


def test_taints():
    assert kube_checks.assert_no_taint(node("a", "1.1.1.1", taints=[
        {"key": "example", "effect": "PreferNoSchedule"}])) == [{"key": "example", "effect": "PreferNoSchedule"}]
    cp = node("cephlab-control-plane", "172.18.0.2",
              taints=[{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}])
    with pytest.raises(AssertionError, match="cephlab-control-plane carries NoSchedule taint\\(s\\): "
                                             "node-role.kubernetes.io/control-plane:NoSchedule"):
        kube_checks.assert_no_taint(cp)
    cordoned = node("b", "1.1.1.2")
    cordoned["spec"]["unschedulable"] = True
    with pytest.raises(AssertionError, match="b is cordoned"):
        kube_checks.assert_no_taint(cordoned)


# ---------------------------------------------------------------------------- pods
def test_pods_ready_by_selector():
    pods = [pod("rook-ceph-osd-0-7d9f", {"app": "rook-ceph-osd", "ceph-osd-id": "0"}),
            pod("rook-ceph-osd-1-5c4b", {"app": "rook-ceph-osd", "ceph-osd-id": "1"}),
            pod("rook-ceph-mon-a-6f8", {"app": "rook-ceph-mon"}, container="mon")]
    osds = kube_checks.select_pods(pods, {"app": "rook-ceph-osd"})
    assert kube_checks.assert_pods_ready(osds, "OSD pods", count=2) == ["rook-ceph-osd-0-7d9f", "rook-ceph-osd-1-5c4b"]
    with pytest.raises(AssertionError, match="OSD pods: 2 pods, expected 3"):
        kube_checks.assert_pods_ready(osds, "OSD pods", count=3)
    with pytest.raises(AssertionError, match="operator: 0 pods, expected at least 1"):
        kube_checks.assert_pods_ready([], "operator")


def test_pending_and_unready_pods_are_named():
    pending = pod("rook-ceph-mon-c-1", {"app": "rook-ceph-mon"}, phase="Pending", ready=False,
                  waiting={"reason": "ContainerCreating"})
    pending["status"]["conditions"] = [{"type": "PodScheduled", "status": "False",
                                        "message": "0/4 nodes are available: 1 node(s) had untolerated taint"}]
    unready = pod("rook-ceph-tools-9", {"app": "rook-ceph-tools"}, ready=False)
    with pytest.raises(AssertionError) as err:
        kube_checks.assert_pods_ready([pending, unready], "lab pods")
    text = str(err.value)
    assert "pod rook-ceph-mon-c-1 is Pending (0/4 nodes are available" in text
    assert "osd: ContainerCreating" in text
    assert "pod rook-ceph-tools-9 is Running but not ready (containers not ready: osd)" in text


def test_crashloop_names_pod_container_exit_and_log_tail():
    crash = pod("rook-ceph-mon-b-77", {"app": "rook-ceph-mon"}, ready=False, container="mon", restarts=4,
                waiting={"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container"},
                last_exit={"exitCode": 1, "reason": "Error"})
    with pytest.raises(kube_checks.PodFailed) as err:
        kube_checks.assert_no_terminal_pod_state([pod("ok", {}), crash],
                                            log_tail="mon.b@-1(probing) e0 keyring does not match")
    text = str(err.value)
    assert "pod rook-ceph/rook-ceph-mon-b-77 container mon: CrashLoopBackOff" in text
    assert "restarted 4 times; last exit code 1 (Error)" in text
    assert text.endswith("--- log tail ---\nmon.b@-1(probing) e0 keyring does not match")
    assert isinstance(err.value, DaemonExited) and isinstance(err.value, AssertionError)


def test_early_crash_is_not_terminal_yet():
    once = pod("rook-ceph-osd-2-1", {"app": "rook-ceph-osd"}, ready=False, restarts=1,
               waiting={"reason": "CrashLoopBackOff"})
    kube_checks.assert_no_terminal_pod_state([once])           # may still come up
    with pytest.raises(kube_checks.PodFailed):
        kube_checks.assert_no_terminal_pod_state([once], crashloop_restarts=1)


@pytest.mark.parametrize("reason", ["ImagePullBackOff", "ErrImagePull"])
def test_image_pull_failures_name_the_image(reason):
    stuck = pod("minio-6d5f", {"app": "minio"}, ns="default", phase="Pending", ready=False,
                image="quay.io/minio/minio:RELEASE.2099", container="minio",
                waiting={"reason": reason, "message": 'Back-off pulling image "quay.io/minio/minio:RELEASE.2099"'})
    with pytest.raises(kube_checks.PodFailed, match=rf"pod default/minio-6d5f container minio: {reason} — "
                                               r'Back-off pulling image "quay.io/minio/minio:RELEASE.2099"'):
        kube_checks.assert_no_terminal_pod_state([stuck])


def test_config_error_and_init_containers_count():
    p = pod("ghost-1", {"app": "ghost"}, ns="default", phase="Pending", ready=False, container="ghost")
    p["status"]["initContainerStatuses"] = [{
        "name": "wait-db", "image": "busybox:1.37.0", "ready": False, "restartCount": 0,
        "state": {"waiting": {"reason": "CreateContainerConfigError",
                              "message": 'secret "mysql-credentials" not found'}}}]
    with pytest.raises(kube_checks.PodFailed, match='ghost-1 container wait-db: CreateContainerConfigError — '
                                               'image busybox:1.37.0: secret "mysql-credentials" not found'):
        kube_checks.assert_no_terminal_pod_state([p])
    assert kube_checks.terminal_pod_states([pod("fine", {})]) == []


# ---------------------------------------------------------------------------- jobs
def prepare_job(failed=False, complete=False):
    conditions = []
    if failed:
        conditions.append({"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                           "message": "Job has reached the specified backoff limit"})
    if complete:
        conditions.append({"type": "Complete", "status": "True"})
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "rook-ceph-osd-prepare-cephlab-worker", "namespace": "rook-ceph",
                         "labels": {"app": "rook-ceph-osd-prepare"}},
            "status": {"conditions": conditions, "failed": 6 if failed else 0,
                       "succeeded": 1 if complete else 0, "active": 0 if (failed or complete) else 1}}


def test_failed_prepare_job_shows_its_provision_log():
    tail = "skipping device \"loop10\": Has BlueStore device label"
    with pytest.raises(kube_checks.PodFailed) as err:
        kube_checks.assert_job_not_failed(prepare_job(failed=True), tail, "provision")
    text = str(err.value)
    assert text.startswith("job rook-ceph/rook-ceph-osd-prepare-cephlab-worker failed: BackoffLimitExceeded: "
                           "Job has reached the specified backoff limit; 6 failed pod(s) (container provision)")
    assert text.endswith(f"--- log tail ---\n{tail}")
    kube_checks.assert_job_not_failed(prepare_job())
    assert kube_checks.assert_job_complete(prepare_job(complete=True)) == 1
    with pytest.raises(AssertionError, match="not complete \\(active 1, succeeded 0, failed 0\\)"):
        kube_checks.assert_job_complete(prepare_job())
    with pytest.raises(kube_checks.PodFailed):
        kube_checks.assert_job_complete(prepare_job(failed=True))


# ---------------------------------------------------------------------------- workloads, PVCs
def test_deployment_rollout():
    d = {"kind": "Deployment", "metadata": {"name": "rook-ceph-tools", "namespace": "rook-ceph", "generation": 2},
         "spec": {"replicas": 1},
         "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
                    "availableReplicas": 1}}
    assert kube_checks.assert_deployment_available(d) == 1
    old = copy.deepcopy(d)
    old["status"].update(observedGeneration=1, readyReplicas=0)
    with pytest.raises(AssertionError, match="rook-ceph/rook-ceph-tools not rolled out: the controller has not "
                                             "seen the newest spec yet; readyReplicas 0/1"):
        kube_checks.assert_deployment_available(old)


def test_pvc_bound():
    pvc = {"kind": "PersistentVolumeClaim", "metadata": {"name": "mysql-pvc", "namespace": "default"},
           "spec": {"storageClassName": "rook-ceph-block", "volumeName": "pvc-0b1e"},
           "status": {"phase": "Bound", "capacity": {"storage": "5Gi"}}}
    assert kube_checks.assert_pvc_bound(pvc) == "pvc-0b1e"
    pvc["status"] = {"phase": "Pending"}
    with pytest.raises(AssertionError, match="PVC default/mysql-pvc is Pending, not Bound \\(storage class "
                                             "'rook-ceph-block'\\)"):
        kube_checks.assert_pvc_bound(pvc)


def test_conditions():
    crd = {"kind": "CustomResourceDefinition", "metadata": {"name": "cephclusters.ceph.rook.io"},
           "status": {"conditions": [{"type": "Established", "status": "True"}]}}
    assert kube_checks.assert_condition(crd, "Established")["status"] == "True"
    with pytest.raises(AssertionError, match="condition NamesAccepted is absent"):
        kube_checks.assert_condition(crd, "NamesAccepted")


# ---------------------------------------------------------------------------- Rook, storage
def test_cephcluster_phase():
    cluster = {"apiVersion": "ceph.rook.io/v1", "kind": "CephCluster",
               "metadata": {"name": "rook-ceph", "namespace": "rook-ceph"},
               "status": {"phase": "Ready", "state": "Created", "message": "Cluster created successfully",
                          "ceph": {"health": "HEALTH_OK"}}}
    assert kube_checks.assert_cr_phase(cluster) == "Ready"
    cluster["status"].update(phase="Progressing", message="Configuring Ceph OSDs",
                             ceph={"health": "HEALTH_WARN"})
    with pytest.raises(AssertionError, match="CephCluster rook-ceph/rook-ceph phase is Progressing, expected "
                                             "Ready \\(state 'Created', message 'Configuring Ceph OSDs', "
                                             "ceph health HEALTH_WARN\\)"):
        kube_checks.assert_cr_phase(cluster)


@pytest.mark.parametrize("kind,name", [("CephBlockPool", "replicapool"), ("CephFilesystem", "k8s-fs"),
                                       ("CephObjectStore", "lab-store")])
def test_pool_fs_store_phase(kind, name):
    cr = {"kind": kind, "metadata": {"name": name, "namespace": "rook-ceph"}, "status": {"phase": "Ready"}}
    assert kube_checks.assert_cr_phase(cr) == "Ready"
    with pytest.raises(AssertionError, match=f"{kind} rook-ceph/{name} phase is not reported yet"):
        kube_checks.assert_cr_phase({**cr, "status": {}})
    with pytest.raises(AssertionError, match="phase is Failure"):
        kube_checks.assert_cr_phase({**cr, "status": {"phase": "Failure"}})


def test_crds_registered():
    crds = [{"metadata": {"name": f"{p}.ceph.rook.io"},
             "status": {"conditions": [{"type": "Established", "status": "True"}]}}
            for p in ("cephclusters", "cephblockpools", "cephfilesystems")]
    assert kube_checks.assert_crds_registered(crds, ["cephclusters", "cephfilesystems"]) == [
        "cephclusters.ceph.rook.io", "cephfilesystems.ceph.rook.io"]
    crds[0]["status"]["conditions"][0]["status"] = "False"
    with pytest.raises(AssertionError, match="cephclusters.ceph.rook.io not Established yet; "
                                             "cephobjectstores.ceph.rook.io not registered"):
        kube_checks.assert_crds_registered(crds, ["cephclusters", "cephobjectstores"])


def test_storage_class():
    sc = {"kind": "StorageClass", "metadata": {"name": "rook-ceph-block"},
          "provisioner": "rook-ceph.rbd.csi.ceph.com", "parameters": {"pool": "replicapool", "clusterID": "rook-ceph"}}
    assert kube_checks.assert_storage_class(sc, "rook-ceph.rbd.csi.ceph.com", pool="replicapool") is sc
    with pytest.raises(AssertionError, match="provisioner 'rook-ceph.rbd.csi.ceph.com', expected "
                                             "'rook-ceph.cephfs.csi.ceph.com'; parameter pool='replicapool', "
                                             "expected 'other'"):
        kube_checks.assert_storage_class(sc, "rook-ceph.cephfs.csi.ceph.com", pool="other")
    with pytest.raises(AssertionError, match="StorageClass missing"):
        kube_checks.assert_storage_class(None, "x")
