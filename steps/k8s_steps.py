"""Kubernetes outcomes (features 01-06, 15, and 17's Kubernetes objects), asserted on API
objects through the ``kube`` fixture and the pure checks of :mod:`cephlab.k8s.checks` and
:mod:`cephlab.k8s.vm_checks`. Credentials are read from Secrets and never printed."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import uuid

import pytest
import requests
from minio import Minio
from pytest_bdd import parsers, then

from cephlab import model
from cephlab.k8s import checks as k8s
from cephlab.k8s import manifests as m
from cephlab.k8s import versions, vm_checks


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.replace(" and ", ",").split(",") if n.strip()]


def _vagrant(lab):
    vagrant = getattr(lab.target, "vagrant", None)
    if vagrant is None:
        pytest.skip(f"the {lab.target.name} target has no VMs of its own")
    return vagrant


# ------------------------------------------------------------------ 01 vms
@then(parsers.parse("the machines {names} are running"))
def machines_running(lab, names):
    vm_checks.assert_machines_running(_vagrant(lab).status(), _names(names))


@then(parsers.parse("each machine has its private address {addresses}"))
def machines_addresses(lab, addresses):
    vagrant = _vagrant(lab)
    for node, address in zip(model.NODES, _names(addresses), strict=True):
        vm_checks.assert_has_address(vagrant.ssh(node, "ip -4 -o addr show"), node, address)


@then(parsers.parse("each machine has empty disks {devices}"))
def machines_disks(lab, devices):
    vagrant = _vagrant(lab)
    for node in model.NODES:
        for dev in _names(devices):
            out = vagrant.ssh(node, f"lsblk -J -o NAME,TYPE,FSTYPE,PTTYPE /dev/{dev} || true")
            vm_checks.assert_empty_disk(out, node, dev)


# ------------------------------------------------------------------ 02-04 nodes
@then("the Kubernetes API answers with the admin kubeconfig")
def api_answers(kube):
    assert kube.probe_api()


@then(parsers.parse("the nodes {names} are registered"))
def nodes_registered(kube, node_names, names):
    k8s.assert_nodes_registered(kube.get_json("Node"), [node_names[n] for n in _names(names)])


@then(parsers.parse("the nodes {names} are Ready"))
def nodes_ready(kube, node_names, expect, timeouts, names):
    wanted = [node_names[n] for n in _names(names)]
    expect(f"nodes {', '.join(wanted)} Ready",
           lambda: k8s.assert_nodes_ready(kube.get_json("Node"), wanted), timeout=timeouts.quorum)


@then("each node's InternalIP is its 10.254.1.x address")
def nodes_internal_ip(lab, kube, node_names):
    expected_of = getattr(lab.target, "expected_address", None)
    want = {}
    for i, lab_node in enumerate(model.NODES):
        address = expected_of(lab_node) if expected_of else m.node_ip(i)
        if address:
            want[node_names[lab_node]] = address
    if not want:
        pytest.skip("the cluster config names no node address to compare with")
    k8s.assert_internal_ips(kube.get_json("Node"), want)


@then(parsers.parse("{node} carries no NoSchedule taint"))
def node_untainted(kube, node_names, node):
    k8s.assert_no_taint(kube.get_json("Node", node_names[node]) or {"metadata": {"name": node}})


@then(parsers.parse("a pod pinned to {node} runs"))
def pod_pinned(lab, kube, node_names, expect, timeouts, node):
    name = f"cephlab-pinned-{uuid.uuid4().hex[:6]}"
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": m.APPS_NS, "labels": {"app": "cephlab-pinned"}},
           "spec": {"nodeName": node_names[node], "restartPolicy": "Never",
                    "containers": [{"name": "sleep", "image": versions.HELPER_IMAGE,
                                    "command": ["sleep", "300"]}]}}
    kube.apply(pod)
    try:
        def probe():
            current = kube.get_json("Pod", name, m.APPS_NS) or {}
            k8s.assert_no_terminal_pod_state([current])
            return k8s.assert_pods_ready([current], f"pod {name} on {node_names[node]}", count=1)
        expect(f"pod {name} running on {node_names[node]}", probe, timeout=timeouts.daemon_start * 3)
    finally:
        kube.delete({"apiVersion": "v1", "kind": "Pod", "name": name, "namespace": m.APPS_NS})


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


@then(parsers.parse("a short-lived token of admin-user logs in through node port {port:d} of {node}"))
def dashboard_token(kube, node_address, port, node):
    token = subprocess.run([*kube.kubectl_argv(), "-n", "kubernetes-dashboard", "create", "token",
                            "admin-user", "--duration=10m"], capture_output=True, text=True,
                           timeout=30, check=True).stdout.strip()
    url = f"https://{node_address(node)}:{port}/api/v1/namespace"
    good = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10, verify=False)
    assert good.status_code == 200, f"the admin-user token got HTTP {good.status_code} from {url}"
    bad = requests.get(url, headers={"Authorization": "Bearer not-a-token"}, timeout=10, verify=False)
    assert bad.status_code in (401, 403), f"a bogus token got HTTP {bad.status_code} from {url}"


# ------------------------------------------------------------------ 06 and app pods
@then("the Rook operator pod is Running and ready")
def rook_operator_ready(kube, expect, timeouts):
    expect("the Rook operator pod Running and ready", lambda: k8s.assert_pods_ready(
        kube.get_json("Pod", namespace=m.ROOK_NS, label_selector="app=rook-ceph-operator"),
        "Rook operator", count=1), timeout=timeouts.daemon_start * 3)


@then(parsers.parse("the CRDs {plurals} are registered"))
def crds_registered(kube, plurals):
    k8s.assert_crds_registered(kube.get_json("CustomResourceDefinition"), _names(plurals))


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


@then("a bucket can be created through MinIO", target_fixture="minio_bucket")
def minio_bucket(lab):
    client, name = _minio(lab), f"cephlab-{uuid.uuid4().hex[:10]}"
    client.make_bucket(name)
    assert client.bucket_exists(name), f"bucket {name} was created but does not exist"
    return name


@then("an object written through MinIO reads back byte-identical", target_fixture="minio_object")
def minio_object(lab, minio_bucket):
    client, key, blob = _minio(lab), "lab-object", os.urandom(3 * 1024 * 1024 + 11)
    client.put_object(minio_bucket, key, io.BytesIO(blob), len(blob))
    resp = client.get_object(minio_bucket, key)
    try:
        got = resp.read()
    finally:
        resp.close()
        resp.release_conn()
    assert hashlib.sha256(got).digest() == hashlib.sha256(blob).digest(), (
        f"{minio_bucket}/{key}: {len(got)} bytes read back differ from the {len(blob)} written")
    return key


@then("the object is a file under /minio on the shared filesystem")
def minio_on_cephfs(kube, minio_bucket, minio_object):
    # MinIO keeps an object as <bucket>/<key>/ (xl.meta and parts) under its /data
    path = f"/mnt/cephfs/minio/{minio_bucket}/{minio_object}"
    res = subprocess.run([*kube.kubectl_argv(), "-n", m.APPS_NS, "exec", "cephfs-helper", "--",
                          "ls", "-R", path], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip(), (
        f"{path} is not on the shared filesystem (seen from pod cephfs-helper): {res.stderr.strip()}")
