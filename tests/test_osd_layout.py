"""The cluster config's OSD layouts (cephlab.k8s.cluster_config): the lab's per-node device
lists, and local-pvs, which pins each OSD device to its node on clusters whose nodes share one
kernel's devices (kind). The rendered objects are checked against the pinned Kubernetes
OpenAPI schema and Rook v1.20.6's CephCluster CRD."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

from cephlab.errors import ConfigError
from cephlab import versions
from cephlab.k8s import cluster_config
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

EXAMPLE = ROOT / "examples" / "cluster-kind.yaml"
LAB_NODES = ("k8s-1", "k8s-2", "k8s-3")
STAGE_DIRS = {"ceph_cluster": "07_ceph_cluster", "extend_storage": "11_extend_storage",
              "remove_node": "14_remove_node"}
CRD_FILE = "rook-v1.20.6-crds.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    return path


def lab_cluster(stage: str, conf: cluster_config.ClusterConfig) -> dict:
    """The lab's CephCluster of ``stage`` with this cluster's node names (as the cluster
    target renders it before adapting the devices)."""
    [path] = (ROOT / "manifests" / STAGE_DIRS[stage]).glob("*-cephcluster-rook-ceph.yaml")
    obj = yaml.safe_load(path.read_text())
    names = dict(zip(LAB_NODES, conf.names, strict=True))
    for node in obj["spec"]["storage"]["nodes"]:
        node["name"] = names[node["name"]]
    return obj


def cephcluster_schema() -> dict:
    dirs = [Path(os.environ["LAB_SHARED_DIR"])] if os.environ.get("LAB_SHARED_DIR") else []
    dirs.append(ROOT.parent / "shared")
    for d in dirs:
        path = d / "schemas" / CRD_FILE
        if path.is_file():
            for doc in yaml.safe_load_all(path.read_text()):
                if doc and doc.get("kind") == "CustomResourceDefinition" and \
                        doc["spec"]["names"]["kind"] == "CephCluster":
                    return doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    pytest.skip(f"{CRD_FILE} not found under $LAB_SHARED_DIR/schemas or ../shared/schemas")


def undeclared(value, schema, path="") -> list[str]:
    """Fields the API server would prune: not in the schema's properties."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    out = []
    if isinstance(value, dict):
        props, extra = schema.get("properties"), schema.get("additionalProperties")
        for key, sub in value.items():
            if not path and key in ("apiVersion", "kind", "metadata"):
                continue
            if props is not None and key in props:
                out += undeclared(sub, props[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                out += undeclared(sub, extra, f"{path}.{key}")
            elif props is not None or extra is False:
                out.append(f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            out += undeclared(item, schema["items"], f"{path}[{i}]")
    return out


def validate_core(obj: dict) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    from packaging.version import Version
    pinned = Version(versions.KUBERNETES)
    usable = sorted(Version(v) for v in kv.utils.all_versions()
                    if (Version(v).major, Version(v).minor) <= (pinned.major, pinned.minor))
    kv.validate(obj, str(usable[-1]), strict=True)


# ---------------------------------------------------------------------------- loading
def test_the_example_pins_osds_to_nodes():
    conf = cluster_config.load(EXAMPLE)
    assert conf.osd_layout == "local-pvs" and conf.osd_volume_size == "10Gi"
    vols = conf.osd_volumes()
    assert [(v.lab_node, v.lab_device, v.node, v.path) for v in vols] == [
        ("k8s-1", "sdc", "cephlab-worker", "/dev/loop10"), ("k8s-1", "sdd", "cephlab-worker", "/dev/loop11"),
        ("k8s-2", "sdc", "cephlab-worker2", "/dev/loop12"), ("k8s-2", "sdd", "cephlab-worker2", "/dev/loop13"),
        ("k8s-3", "sdc", "cephlab-worker3", "/dev/loop14"), ("k8s-3", "sdd", "cephlab-worker3", "/dev/loop15")]
    assert vols[0].pv_name == "cephlab-osd-k8s-1-sdc" and vols[0].device_set == "k8s-1-sdc"


NODES3 = "nodes: [{name: a, devices: [sdb, sdc]}, {name: b, devices: [sdb, sdc]}, {name: c, devices: [sdb, sdc]}]\n"


@pytest.mark.parametrize("extra,message", [
    ("osd_layout: pvc\n", "osd_layout must be one of devices, local-pvs, got 'pvc'"),
    ("osd_layout: local-pvs\nosd_volume_size: 10G\n", "osd_volume_size must be a size like 10Gi"),
    ("osd_layout: local-pvs\nosd_volume_size: 0Gi\n", "osd_volume_size must be a size like 10Gi"),
    ("osd_volume_size: 10Gi\n", "applies to osd_layout: local-pvs only"),
    ("osds: local-pvs\n", r"unknown key\(s\) osds"),
])
def test_bad_layout_settings_are_refused(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        cluster_config.load(write(tmp_path, NODES3 + extra))


def test_devices_is_the_default(tmp_path):
    conf = cluster_config.load(write(tmp_path, NODES3))
    assert conf.osd_layout == "devices" and conf.local_osd_objects() == []


# ---------------------------------------------------------------------------- devices layout
def test_devices_layout_names_each_nodes_own_devices(tmp_path):
    conf = cluster_config.load(write(tmp_path, NODES3.replace("[sdb, sdc]}, {name: b", "[vdb, vdc]}, {name: b")))
    storage = conf.osd_storage(lab_cluster("extend_storage", conf)["spec"]["storage"])
    assert storage["nodes"] == [{"name": "a", "devices": [{"name": "vdb"}, {"name": "vdc"}]},
                                {"name": "b", "devices": [{"name": "sdb"}, {"name": "sdc"}]},
                                {"name": "c", "devices": [{"name": "sdb"}, {"name": "sdc"}]}]
    assert "storageClassDeviceSets" not in storage


# ---------------------------------------------------------------------------- local-pvs layout
@pytest.mark.parametrize("stage,wanted", [
    ("ceph_cluster", ["k8s-1-sdc", "k8s-2-sdc", "k8s-3-sdc"]),
    ("extend_storage", ["k8s-1-sdc", "k8s-1-sdd", "k8s-2-sdc", "k8s-2-sdd", "k8s-3-sdc", "k8s-3-sdd"]),
    ("remove_node", ["k8s-2-sdc", "k8s-2-sdd", "k8s-3-sdc", "k8s-3-sdd"]),
])
def test_local_pvs_give_one_pinned_osd_per_device(stage, wanted):
    conf = cluster_config.load(EXAMPLE)
    obj = lab_cluster(stage, conf)
    before = copy.deepcopy(obj["spec"]["storage"])
    obj["spec"]["storage"] = conf.osd_storage(obj["spec"]["storage"])
    storage = obj["spec"]["storage"]
    assert "nodes" not in storage and storage["useAllNodes"] is False and storage["useAllDevices"] is False
    sets = storage["storageClassDeviceSets"]
    assert [s["name"] for s in sets] == wanted
    pvs = {pv["metadata"]["name"]: pv for pv in conf.local_osd_objects()[1:]}
    for s in sets:
        assert s["count"] == 1 and s["portable"] is False     # CRUSH host = the node
        (claim,) = s["volumeClaimTemplates"]
        spec = claim["spec"]
        pv = pvs[spec["volumeName"]]                          # bound to exactly this volume
        assert spec["storageClassName"] == pv["spec"]["storageClassName"] == cluster_config.LOCAL_OSD_CLASS
        assert spec["volumeMode"] == pv["spec"]["volumeMode"] == "Block"
        assert spec["resources"]["requests"]["storage"] == pv["spec"]["capacity"]["storage"]
        lab_node, device = s["name"].rsplit("-", 1)
        node = dict(zip(LAB_NODES, conf.names, strict=True))[lab_node]
        values = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"]
        assert values == [node]
        assert pv["spec"]["local"]["path"] == conf.osd_volume(node, device).path
    assert before["nodes"], "the input was not changed in place"
    import jsonschema
    schema = cephcluster_schema()
    jsonschema.Draft7Validator(schema).validate(obj)
    assert undeclared(obj, schema) == []


def test_local_osd_objects_validate_against_the_pinned_kubernetes():
    objs = cluster_config.load(EXAMPLE).local_osd_objects()
    assert [o["kind"] for o in objs] == ["StorageClass"] + ["PersistentVolume"] * 6
    for obj in objs:
        validate_core(obj)
    assert objs[0]["provisioner"] == "kubernetes.io/no-provisioner"
    assert {o["spec"]["persistentVolumeReclaimPolicy"] for o in objs[1:]} == {"Retain"}
    assert len({o["spec"]["local"]["path"] for o in objs[1:]}) == 6


def test_a_typo_in_the_device_set_is_caught_by_the_crd():
    """The CRD check above can fail: an undeclared field is reported."""
    conf = cluster_config.load(EXAMPLE)
    obj = lab_cluster("ceph_cluster", conf)
    obj["spec"]["storage"] = conf.osd_storage(obj["spec"]["storage"])
    obj["spec"]["storage"]["storageClassDeviceSets"][0]["portible"] = False
    assert undeclared(obj, cephcluster_schema()) == [".spec.storage.storageClassDeviceSets[0].portible"]


# ---------------------------------------------------------------------------- into the plan
def test_the_kind_config_plans_pinned_osds_that_the_plan_checker_accepts():
    """plan_parameters() hands the layout to the plan: volumes before the first CephCluster,
    device sets in every CephCluster, the removed node's claims and volumes deleted after
    the purge; the plan checker (which follows device sets to their volumes) finds nothing."""
    from cephlab.k8s import manifests as m
    from cephlab.k8s import plan_ops as ops
    from cephlab.k8s.plan_build import build
    from cephlab.k8s.plan_check import findings

    conf = cluster_config.load(EXAMPLE)
    plans = {p.slug: p for p in build("cluster", conf.names, m.generate_secrets(), **conf.plan_parameters())}
    assert findings(list(plans.values()), "cluster") == []
    kinds = [o["kind"] for o in plans["ceph_cluster"].objects]
    assert kinds[:8] == ["StorageClass"] + ["PersistentVolume"] * 6 + ["CephCluster"]
    for stage, sets in (("ceph_cluster", 3), ("extend_storage", 6), ("remove_node", 4)):
        (cluster,) = [o for o in plans[stage].objects if o["kind"] == "CephCluster"]
        assert "nodes" not in cluster["spec"]["storage"]
        assert len(cluster["spec"]["storage"]["storageClassDeviceSets"]) == sets
    remove = plans["remove_node"].ops
    i = next(i for i, op in enumerate(remove) if isinstance(op, ops.RemoveOsds))
    assert [op.render() for op in remove[i + 1:i + 5]] == [
        "kubectl -n rook-ceph delete persistentvolumeclaim -l ceph.rook.io/DeviceSet=k8s-1-sdc --ignore-not-found",
        "kubectl -n rook-ceph delete persistentvolumeclaim -l ceph.rook.io/DeviceSet=k8s-1-sdd --ignore-not-found",
        "kubectl delete persistentvolume/cephlab-osd-k8s-1-sdc --ignore-not-found",
        "kubectl delete persistentvolume/cephlab-osd-k8s-1-sdd --ignore-not-found"]
    # the devices layout adds none of it
    devices = cluster_config.ClusterConfig(conf.path, conf.nodes)
    assert not {"osd_storage", "osd_objects", "osd_cleanup"} & set(devices.plan_parameters())
