"""Kubernetes outcomes (features 01-06, 15, and 17's Kubernetes objects), asserted on API
objects through the ``kube`` fixture and the pure checks of :mod:`cephlab.k8s.kube_checks` and
:mod:`cephlab.k8s.vm_checks`. Credentials are read from Secrets and never printed."""

from __future__ import annotations

import hashlib
import io
import os
import uuid

import pytest
import requests
from minio import Minio
from pytest_bdd import parsers, then, when



from cephlab import model
from cephlab.k8s import kube_checks as k8s
from cephlab.k8s import manifests as m
from cephlab import versions
from cephlab.k8s import vm_checks
from steps.lists import LIST




# ------------------------------------------------------------------ 01 vms
@then(parsers.parse("the machines {nodes:List} are running", LIST))
def machines_running(lab, nodes):
    vm_checks.assert_machines_running(lab.target.machines().status(), nodes)


@then(parsers.parse("each machine has its private address {addresses:List}", LIST))
def machines_addresses(lab, addresses):
    vagrant = lab.target.machines()
    for node, address in zip(model.NODES, addresses, strict=True):
        vm_checks.assert_has_address(vagrant.ssh(node, "ip -4 -o addr show"), node, address)


@then(parsers.parse("each machine has empty disks {devices:List}", LIST))
def machines_disks(lab, devices):
    vagrant = lab.target.machines()
    for node in model.NODES:
        for dev in devices:
            out = vagrant.ssh(node, f"lsblk -J -o NAME,TYPE,FSTYPE,PTTYPE /dev/{dev} || true")
            vm_checks.assert_empty_disk(out, node, dev, vagrant.disk_types)


# ------------------------------------------------------------------ 02-04 nodes
@then("the Kubernetes API answers with the admin kubeconfig")
def api_answers(kube):
    assert kube.probe_api()


@then(parsers.parse("the nodes {nodes:List} are registered", LIST))
def nodes_registered(kube, node_names, nodes):
    k8s.assert_nodes_registered(kube.get_json("Node"), [node_names[n] for n in nodes])


@then(parsers.parse("the nodes {nodes:List} are Ready", LIST))
def nodes_ready(kube, node_names, expect, timeouts, nodes):
    wanted = [node_names[n] for n in nodes]
    expect(f"nodes {', '.join(wanted)} Ready",
           lambda: k8s.assert_nodes_ready(kube.get_json("Node"), wanted), timeout=timeouts.quorum)


@then("each node's InternalIP is its 10.254.1.x address")
def nodes_internal_ip(lab, kube, node_names):
    want = {}
    for lab_node in model.NODES:
        address = lab.target.expected_address(lab_node)
        if address:
            want[node_names[lab_node]] = address
    if not want:
        pytest.skip("the cluster config names no node address to compare with")
    k8s.assert_internal_ips(kube.get_json("Node"), want)


@then(parsers.parse("{node} carries no NoSchedule taint"))
def node_untainted(kube, node_names, node):
    k8s.assert_no_taint(kube.get_json("Node", node_names[node]) or {"metadata": {"name": node}})


@when(parsers.parse("a pod is pinned to {node}"), target_fixture="pinned_pod")
def pod_pinned(request, kube, node_names, node):
    name = f"cephlab-pinned-{uuid.uuid4().hex[:6]}"
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": m.APPS_NS, "labels": {"app": "cephlab-pinned"}},
           "spec": {"nodeName": node_names[node], "restartPolicy": "Never",
                    "containers": [{"name": "sleep", "image": versions.HELPER_IMAGE,
                                    "command": ["sleep", "300"]}]}}
    request.addfinalizer(lambda: kube.delete({"apiVersion": "v1", "kind": "Pod", "name": name,
                                              "namespace": m.APPS_NS}))
    kube.apply(pod)
    return {"name": name, "node": node_names[node]}


@when(parsers.parse("pods are pinned to {nodes:List}", LIST), target_fixture="pinned_pods")
def pods_pinned(request, kube, node_names, nodes):
    return {node: pod_pinned(request, kube, node_names, node)["name"] for node in nodes}


@then("the pinned pods reach each other at their pod addresses")
def pinned_pods_reach_each_other(kube, expect, timeouts, pinned_pods):
    def addresses() -> dict[str, str]:
        found = {}
        for node, name in pinned_pods.items():
            pod = kube.get_json("Pod", name, m.APPS_NS) or {}
            k8s.assert_no_terminal_pod_state([pod])
            k8s.assert_pods_ready([pod], f"pod {name} on {node}", count=1)
            found[node] = (pod.get("status") or {}).get("podIP")
            assert found[node], f"pod {name} on {node} has no address yet"
        return found
    ips = expect("the pinned pods running with addresses", addresses, timeout=timeouts.daemon_start * 3)
    for src, name in pinned_pods.items():
        for dst, ip in ips.items():
            if dst == src:
                continue
            rc, out, err = kube.exec(name, m.APPS_NS, ["ping", "-c", "1", "-W", "3", ip])
            assert rc == 0, (f"the pod on {src} does not reach the pod on {dst} at {ip}: "
                             f"{(out + err).strip()[-300:]}")


@then("the pinned pod runs")
def pinned_pod_runs(kube, expect, timeouts, pinned_pod):
    name, node = pinned_pod["name"], pinned_pod["node"]

    def probe():
        current = kube.get_json("Pod", name, m.APPS_NS) or {}
        k8s.assert_no_terminal_pod_state([current])
        return k8s.assert_pods_ready([current], f"pod {name} on {node}", count=1)
    expect(f"pod {name} running on {node}", probe, timeout=timeouts.daemon_start * 3)


# ------------------------------------------------------------------ 05 dashboard
@then(parsers.parse("the Dashboard answers over HTTPS on node port {port:d} of {node}"))
def dashboard_answers(node_address, expect, timeouts, port, node):
    url = f"https://{node_address(node)}:{port}/"

    def probe():
        try:  # the chart serves a self-signed certificate
            res = requests.get(url, timeout=5, verify=False)
        except requests.RequestException as exc:
            raise AssertionError(f"{url} does not answer: {exc}") from None
        assert res.status_code == 200, f"{url} answered HTTP {res.status_code}"
    expect("the Kubernetes Dashboard to answer", probe, timeout=timeouts.daemon_start * 3, interval=3)


@when("a short-lived token of admin-user is created", target_fixture="dashboard_bearer")
def dashboard_token(kube):
    return kube.create_token("admin-user", "kubernetes-dashboard", seconds=600)


@then(parsers.parse("the token logs in through node port {port:d} of {node} and a bogus one is refused"))
def dashboard_token_logs_in(node_address, dashboard_bearer, port, node):
    url = f"https://{node_address(node)}:{port}/api/v1/namespace"
    good = requests.get(url, headers={"Authorization": f"Bearer {dashboard_bearer}"}, timeout=10, verify=False)
    assert good.status_code == 200, f"the admin-user token got HTTP {good.status_code} from {url}"
    bad = requests.get(url, headers={"Authorization": "Bearer not-a-token"}, timeout=10, verify=False)
    assert bad.status_code in (401, 403), f"a bogus token got HTTP {bad.status_code} from {url}"


# ------------------------------------------------------------------ 06 and app pods
@then("the Rook operator pod is Running and ready")
def rook_operator_ready(kube, expect, timeouts):
    expect("the Rook operator pod Running and ready", lambda: k8s.assert_pods_ready(
        kube.get_json("Pod", namespace=m.ROOK_NS, label_selector="app=rook-ceph-operator"),
        "Rook operator", count=1), timeout=timeouts.daemon_start * 3)


@then(parsers.parse("the CRDs {plurals:List} are registered", LIST))
def crds_registered(kube, plurals):
    k8s.assert_crds_registered(kube.get_json("CustomResourceDefinition"), plurals)


@then(parsers.parse("the pod of app {app} is Running and ready"))
def app_ready(kube, expect, timeouts, app):
    expect(f"the {app} pod Running and ready", lambda: k8s.assert_pods_ready(
        kube.get_json("Pod", namespace=m.APPS_NS, label_selector=f"app={app}"), app, count=1),
        timeout=timeouts.daemon_start * 3)


@then(parsers.parse("claim {name} is Bound"))
def claim_bound(kube, expect, timeouts, name):
    expect(f"claim {name} Bound", lambda: k8s.assert_pvc_bound(
        kube.get_json("PersistentVolumeClaim", name, m.APPS_NS) or {"metadata": {"name": name}}),
        timeout=timeouts.daemon_start)


# ------------------------------------------------------------------ 15 minio
def _minio(lab) -> Minio:
    host, port = lab.target.endpoint("minio")
    creds = lab.target.credentials("minio")
    return Minio(f"{host}:{port}", access_key=creds["access_key"], secret_key=creds["secret_key"],
                 secure=False)


@when("a bucket is created through MinIO", target_fixture="minio_bucket")
def minio_bucket(request, lab, judge):
    client = _minio(lab)
    name = judge.name("MinIO", "cephlab")
    # verify mode removes the scratch bucket again; build mode keeps it for the lab's reader
    judge.cleanup(request, lambda: [*(client.remove_object(name, o.object_name)
                                      for o in client.list_objects(name)),
                                    client.remove_bucket(name)])
    client.make_bucket(name)
    return name


@when("an object is written into it through MinIO", target_fixture="minio_object")
def minio_object(lab, minio_bucket):
    key, blob = "lab-object", os.urandom(3 * 1024 * 1024 + 11)
    _minio(lab).put_object(minio_bucket, key, io.BytesIO(blob), len(blob))
    return {"key": key, "sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)}


@then("the object reads back byte-identical through MinIO")
def minio_read_back(lab, minio_bucket, minio_object):
    client = _minio(lab)
    assert client.bucket_exists(minio_bucket), f"bucket {minio_bucket} was created but does not exist"
    resp = client.get_object(minio_bucket, minio_object["key"])
    try:
        got = resp.read()
    finally:
        resp.close()
        resp.release_conn()
    assert hashlib.sha256(got).hexdigest() == minio_object["sha256"], (
        f"{minio_bucket}/{minio_object['key']}: {len(got)} bytes read back differ from the "
        f"{minio_object['size']} written")


@then("the object is a file under /minio on the shared filesystem")
def minio_on_cephfs(kube, minio_bucket, minio_object):
    # MinIO keeps an object as <bucket>/<key>/ (xl.meta and parts) under its /data
    path = f"/mnt/cephfs/minio/{minio_bucket}/{minio_object['key']}"
    rc, out, err = kube.exec("cephfs-helper", m.APPS_NS, ["ls", "-R", path])
    assert rc == 0 and out.strip(), (
        f"{path} is not on the shared filesystem (seen from pod cephfs-helper): {err.strip()}")

