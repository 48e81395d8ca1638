"""Offline checks of the rendered Kubernetes objects (cephlab.k8s.manifests).

Core objects are validated against the pinned Kubernetes version's OpenAPI schema
(kubernetes-validate, strict), Rook custom resources against the CRDs of Rook v1.20.6
(jsonschema, plus a check for fields the API server would silently prune).
"""

from __future__ import annotations

import copy
import functools
import os
import pathlib
import re
import sys

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from cephlab.k8s import manifests as m  # noqa: E402
from cephlab import versions  # noqa: E402

pytestmark = pytest.mark.unit

CRD_FILE = "rook-v1.20.6-crds.yaml"
CUSTOM_GROUPS = ("ceph.rook.io", "objectbucket.io")
FIXED_SECRETS = {
    "minio_root_user": "lab-test",
    "minio_root_password": "Zx8-not-a-real-one-41qP",
    "mysql_root_password": "Q3_fixture-value-only-9kLm",
    "ghost_db_user": "ghost",
    "ghost_db_password": "w7-fixture_value_only-Rt2x",
}
ALL = m.all_objects(secrets=FIXED_SECRETS)


def _is_custom(o) -> bool:
    return o["apiVersion"].split("/")[0].endswith(CUSTOM_GROUPS)


def _id(o) -> str:
    return f"{o['kind']}/{o['metadata']['name']}"


CORE = [o for o in ALL if not _is_custom(o)]
CUSTOM = [o for o in ALL if _is_custom(o)]


# ---- schema locations and validators ----------------------------------------------------

def crd_file() -> pathlib.Path | None:
    dirs = [pathlib.Path(os.environ["LAB_SHARED_DIR"])] if os.environ.get("LAB_SHARED_DIR") else []
    dirs.append(REPO.parent / "shared")
    for d in dirs:
        if (d / "schemas" / CRD_FILE).is_file():
            return d / "schemas" / CRD_FILE
    return None


@functools.lru_cache(maxsize=None)
def crd_schemas() -> dict[tuple[str, str], dict]:
    path = crd_file()
    if path is None:
        pytest.skip(f"{CRD_FILE} not found under $LAB_SHARED_DIR/schemas or {REPO.parent}/shared/schemas")
    out = {}
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
        for ver in doc["spec"]["versions"]:
            out[(f"{group}/{ver['name']}", kind)] = ver["schema"]["openAPIV3Schema"]
    return out


def pruned_fields(value, schema, path="") -> list[str]:
    """Fields the API server would drop: not declared, no additionalProperties, not preserved."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    out: list[str] = []
    if isinstance(value, dict):
        props, extra = schema.get("properties"), schema.get("additionalProperties")
        for key, sub in value.items():
            if not path and key in ("apiVersion", "kind", "metadata"):
                continue        # always accepted by the API server, whatever the CRD says
            if props is not None and key in props:
                out += pruned_fields(sub, props[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                out += pruned_fields(sub, extra, f"{path}.{key}")
            elif props is not None or extra is False:
                out.append(f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            out += pruned_fields(item, schema["items"], f"{path}[{i}]")
    return out


def validate_custom(o) -> None:
    import jsonschema
    schema = crd_schemas().get((o["apiVersion"], o["kind"]))
    assert schema is not None, f"no CRD for {o['apiVersion']} {o['kind']} in {CRD_FILE}"
    jsonschema.Draft7Validator(schema).validate(o)
    assert pruned_fields(o, schema) == [], f"{_id(o)} has fields the CRD does not declare"


def k8s_schema_version() -> str:
    """Newest schema kubernetes-validate ships that is not newer than the pinned minor."""
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    from packaging.version import Version
    pinned = Version(versions.KUBERNETES)
    shipped = sorted({Version(v) for v in kv.utils.all_versions()})
    usable = [v for v in shipped if (v.major, v.minor) <= (pinned.major, pinned.minor)]
    assert usable, f"kubernetes-validate {kv.__version__} ships nothing <= {versions.KUBERNETES_MINOR}"
    return str(usable[-1])


def validate_core(o) -> str:
    import kubernetes_validate as kv
    return kv.validate(o, k8s_schema_version(), strict=True)


# ---- schema validation --------------------------------------------------------------------

def test_every_object_is_checked_by_one_validator():
    assert len(CORE) + len(CUSTOM) == len(ALL)
    assert {o["kind"] for o in CUSTOM} == {"CephCluster", "CephBlockPool", "CephFilesystem",
                                           "CephObjectStore", "ObjectBucketClaim"}


def test_schema_version_is_the_pinned_minor():
    version = k8s_schema_version()
    assert version.startswith(versions.KUBERNETES_MINOR + "."), version


@pytest.mark.parametrize("o", CORE, ids=_id)
def test_core_object_matches_kubernetes_openapi(o):
    assert validate_core(o) == versions.KUBERNETES_MINOR


@pytest.mark.parametrize("o", CUSTOM, ids=_id)
def test_rook_object_matches_crd_schema(o):
    validate_custom(o)


def test_openapi_validation_rejects_broken_objects():
    import kubernetes_validate as kv

    svc = copy.deepcopy(m.ceph_dashboard_service())
    svc["spec"]["ports"][0]["nodeport"] = 30001          # typo: strict schema rejects it
    with pytest.raises(kv.ValidationError):
        validate_core(svc)
    deploy = copy.deepcopy(m.toolbox())
    deploy["spec"]["replicas"] = "one"
    with pytest.raises(kv.ValidationError):
        validate_core(deploy)


def test_crd_validation_rejects_broken_resources():
    import jsonschema

    cluster = m.ceph_cluster(m.NODES)
    bad_type = copy.deepcopy(cluster)
    bad_type["spec"]["mon"]["count"] = "3"
    with pytest.raises(jsonschema.ValidationError):
        validate_custom(bad_type)
    bad_enum = copy.deepcopy(cluster)
    bad_enum["spec"]["security"]["cephx"]["csi"]["keyType"] = "des"
    with pytest.raises(jsonschema.ValidationError):
        validate_custom(bad_enum)
    typo = copy.deepcopy(cluster)
    typo["spec"]["storage"]["useAllNode"] = False
    with pytest.raises(AssertionError, match="does not declare"):
        validate_custom(typo)


# ---- content ----------------------------------------------------------------------------

def test_ceph_cluster_stage_shapes():
    spec = m.ceph_cluster(m.NODES, ("sdc",))["spec"]
    assert spec["cephVersion"]["image"] == versions.CEPH_IMAGE == "quay.io/ceph/ceph:v20.2.4"
    assert spec["dataDirHostPath"] == "/var/lib/rook"
    assert spec["mon"] == {"count": 3, "allowMultiplePerNode": False}
    assert spec["mgr"]["count"] == 1
    assert spec["dashboard"] == {"enabled": True, "ssl": False}
    assert spec["storage"]["useAllNodes"] is False and spec["storage"]["useAllDevices"] is False
    assert spec["storage"]["nodes"] == [{"name": n, "devices": [{"name": "sdc"}]} for n in m.NODES]
    assert spec["cephConfig"]["global"]["osd_pool_default_size"] == "2"
    assert int(spec["cephConfig"]["osd"]["osd_memory_target"]) <= 1024 ** 3
    assert spec["security"]["cephx"]["csi"]["keyType"] == "aes"

    extended = m.ceph_cluster(m.NODES, ("sdc", "sdd"), dashboard_ssl=True)["spec"]
    assert [[d["name"] for d in n["devices"]] for n in extended["storage"]["nodes"]] == [["sdc", "sdd"]] * 3
    assert extended["dashboard"]["ssl"] is True
    removed = m.ceph_cluster(m.NODES[1:], ("sdc", "sdd"))["spec"]["storage"]["nodes"]
    assert [n["name"] for n in removed] == ["k8s-2", "k8s-3"]
    assert "security" not in m.ceph_cluster(m.NODES, cephx_key_type=None)["spec"]


def test_ceph_cluster_refuses_impossible_layouts():
    with pytest.raises(ValueError):
        m.ceph_cluster(["k8s-1"])
    with pytest.raises(ValueError):
        m.ceph_cluster(m.NODES, ())
    with pytest.raises(ValueError):
        m.all_objects(nodes=("k8s-1", "k8s-2"))


def test_ceph_dashboard_service_ports():
    plain, tls = m.ceph_dashboard_service(False), m.ceph_dashboard_service(True)
    assert plain["spec"]["type"] == "NodePort"
    assert plain["spec"]["ports"][0]["nodePort"] == tls["spec"]["ports"][0]["nodePort"] == 30001
    assert plain["spec"]["ports"][0]["targetPort"] == 7000
    assert tls["spec"]["ports"][0]["targetPort"] == 8443
    assert plain["spec"]["selector"]["app"] == "rook-ceph-mgr"


def test_block_pool_and_storage_class():
    pool = m.block_pool()
    # deletable on teardown although an image may remain (Rook's force-deletion cleanup)
    assert pool["metadata"] == {"name": "replicapool", "namespace": "rook-ceph",
                                "annotations": {"rook.io/force-deletion": "true"}}
    assert pool["spec"] == {"failureDomain": "host", "replicated": {"size": 2}}
    sc = m.rbd_storage_class()
    assert sc["metadata"]["name"] == "rook-ceph-block"
    assert sc["provisioner"] == "rook-ceph.rbd.csi.ceph.com"
    p = sc["parameters"]
    assert p["clusterID"] == "rook-ceph" and p["pool"] == "replicapool"
    assert p["imageFormat"] == "2" and p["imageFeatures"] == "layering"
    assert p["csi.storage.k8s.io/fstype"] == "xfs"
    for role in ("provisioner", "controller-expand", "controller-publish"):
        assert p[f"csi.storage.k8s.io/{role}-secret-name"] == "rook-csi-rbd-provisioner"
        assert p[f"csi.storage.k8s.io/{role}-secret-namespace"] == "rook-ceph"
    assert p["csi.storage.k8s.io/node-stage-secret-name"] == "rook-csi-rbd-node"
    assert p["csi.storage.k8s.io/node-stage-secret-namespace"] == "rook-ceph"


def test_filesystem_shape_and_pg_parameters():
    fs = m.filesystem()
    assert fs["metadata"]["name"] == "k8s-fs"
    spec = fs["spec"]
    assert spec["metadataPool"]["replicated"]["size"] == 2
    assert spec["dataPools"] == [{"name": "data0", "failureDomain": "osd", "replicated": {"size": 2}}]
    assert spec["metadataServer"]["activeCount"] == 1 and spec["metadataServer"]["activeStandby"] is True
    tuned = {"pg_autoscale_mode": "off", "pg_num": "150"}
    assert m.filesystem(pg_num=150)["spec"]["dataPools"][0]["parameters"] == tuned
    assert m.block_pool(pg_num=150)["spec"]["parameters"] == tuned


def test_object_store_pieces_agree():
    store, svc, sc, claim = m.object_store()
    assert store["kind"] == "CephObjectStore"
    assert store["spec"]["dataPool"]["replicated"]["size"] == 2
    assert svc["spec"]["selector"]["rook_object_store"] == store["metadata"]["name"]
    assert sc["parameters"]["objectStoreName"] == store["metadata"]["name"]
    assert claim["spec"]["storageClassName"] == sc["metadata"]["name"]


def test_toolbox_deployment():
    tb = m.toolbox()
    assert tb["metadata"]["name"] == "rook-ceph-tools" and tb["metadata"]["namespace"] == "rook-ceph"
    pod = tb["spec"]["template"]
    assert pod["metadata"]["labels"] == {"app": "rook-ceph-tools"}
    assert pod["spec"]["containers"][0]["image"] == versions.CEPH_IMAGE


def test_dashboard_admin_user():
    sa, crb, svc = m.dashboard_access()
    assert (sa["kind"], sa["metadata"]["name"], sa["metadata"]["namespace"]) == \
        ("ServiceAccount", "admin-user", "kubernetes-dashboard")
    assert crb["roleRef"]["name"] == "cluster-admin"
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": "admin-user",
                                "namespace": "kubernetes-dashboard"}]
    assert svc["spec"]["ports"][0]["nodePort"] == 30000


def _pv_of(objects, claim_name):
    pvc = next(o for o in objects if o["kind"] == "PersistentVolumeClaim"
               and o["metadata"]["name"] == claim_name)
    pv = next(o for o in objects if o["kind"] == "PersistentVolume"
              and o["metadata"]["name"] == pvc["spec"]["volumeName"])
    assert pvc["spec"]["storageClassName"] == "" and pv["spec"]["storageClassName"] == ""
    return pv


@pytest.mark.parametrize("objects, claim, root", [
    (m.cephfs_helper(), "cephfs-root", "/"),
    (m.minio(), "minio-data", "/minio"),
    (m.ghost(), "ghost-content", "/ghost"),
])
def test_static_cephfs_volumes(objects, claim, root):
    pv = _pv_of(objects, claim)
    csi = pv["spec"]["csi"]
    assert csi["driver"] == "rook-ceph.cephfs.csi.ceph.com"
    assert csi["volumeAttributes"] == {"clusterID": "rook-ceph", "fsName": "k8s-fs",
                                       "staticVolume": "true", "rootPath": root}
    assert csi["nodeStageSecretRef"] == {"name": "rook-csi-cephfs-node", "namespace": "rook-ceph"}
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"


def _deployment(objects, name):
    return next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name)


def test_apps_images_probes_and_ports():
    for objects, name, image, node_port in ((m.minio(), "minio", versions.MINIO_IMAGE, 30010),
                                            (m.mysql(), "mysql", versions.MYSQL_IMAGE, 30020),
                                            (m.ghost(), "ghost", versions.GHOST_IMAGE, 30030)):
        c = _deployment(objects, name)["spec"]["template"]["spec"]["containers"][0]
        assert c["image"] == image
        assert "readinessProbe" in c, name
        svc = next(o for o in objects if o["kind"] == "Service")
        assert svc["spec"]["type"] == "NodePort" and svc["spec"]["ports"][0]["nodePort"] == node_port


def test_mysql_block_volume_and_recreate():
    pvc, deploy, _ = m.mysql()
    assert pvc["metadata"]["name"] == "mysql-pvc"
    assert pvc["spec"] == {"accessModes": ["ReadWriteOnce"], "storageClassName": "rook-ceph-block",
                           "resources": {"requests": {"storage": "5Gi"}}}
    assert deploy["spec"]["strategy"] == {"type": "Recreate"}
    assert deploy["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "mysql-pvc"


def test_ghost_uses_mysql():
    c = _deployment(m.ghost(), "ghost")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in c["env"]}
    assert env["database__client"]["value"] == "mysql"
    assert env["database__connection__host"]["value"] == "mysql"
    assert env["database__connection__password"]["valueFrom"]["secretKeyRef"]["name"] == "mysql-credentials"
    assert c["volumeMounts"][0]["mountPath"] == "/var/lib/ghost/content"


def test_node_ports_are_distinct():
    ports = [p["nodePort"] for o in ALL if o["kind"] == "Service" for p in o["spec"]["ports"]]
    # the plain and TLS Ceph dashboard services are alternatives and share 30001
    assert sorted(set(ports)) == sorted({30000, 30001, 30010, 30011, 30020, 30030, 30040})
    assert all(30000 <= p <= 32767 for p in ports)


# ---- credentials ------------------------------------------------------------------------

CREDENTIAL_ENV = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|ACCESS_KEY|_USER$|__user$|password)", re.I)
WEAK = {"password", "passw0rd", "admin", "root", "secret", "changeme", "minio123", "minioadmin",
        "ghost", "mysql", "123456", "letmein"}


def _containers(o):
    spec = o.get("spec", {})
    pod = spec.get("template", {}).get("spec", spec) if o["kind"] != "Pod" else spec
    return pod.get("containers", []) if isinstance(pod, dict) else []


@pytest.mark.parametrize("o", [o for o in ALL if _containers(o)], ids=_id)
def test_credentials_come_from_secrets(o):
    for c in _containers(o):
        for e in c.get("env", []):
            if CREDENTIAL_ENV.search(e["name"]):
                assert "value" not in e, f"{_id(o)} sets {e['name']} literally"
                assert "secretKeyRef" in e["valueFrom"], e


def test_secret_objects_hold_exactly_the_given_values():
    minio, mysql = m.minio_secret(FIXED_SECRETS), m.mysql_secret(FIXED_SECRETS)
    assert minio["stringData"] == {"MINIO_ROOT_USER": "lab-test",
                                   "MINIO_ROOT_PASSWORD": FIXED_SECRETS["minio_root_password"]}
    assert mysql["stringData"]["root-password"] == FIXED_SECRETS["mysql_root_password"]
    assert mysql["stringData"]["ghost-password"] == FIXED_SECRETS["ghost_db_password"]


def test_weak_or_missing_secrets_are_refused():
    for key in ("minio_root_password", "mysql_root_password", "ghost_db_password"):
        for weak in ("password", "", "short-but-15chr", "has space in it 123456", "quote'in-the-value-xyz"):
            with pytest.raises(ValueError) as info:
                m.mysql_secret({**FIXED_SECRETS, key: weak})
            if weak and weak not in key:
                assert weak not in str(info.value), "a refused value must not be echoed"
    with pytest.raises(ValueError, match="minio_root_user"):
        m.minio_secret({k: v for k, v in FIXED_SECRETS.items() if k != "minio_root_user"})


def test_generated_secrets_are_fresh_and_strong():
    a, b = m.generate_secrets(), m.generate_secrets()
    assert m.check_secrets(a) == a
    for key in ("minio_root_password", "mysql_root_password", "ghost_db_password"):
        assert a[key] != b[key] and len(a[key]) >= 24 and a[key].lower() not in WEAK


def _strings(value):
    if isinstance(value, dict):
        for k, v in value.items():
            if k != "kind":
                yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def test_generated_objects_carry_no_known_literal():
    objects = m.all_objects()
    for s in (o for o in objects if o["kind"] == "Secret"):
        for key, value in s["stringData"].items():
            if not key.lower().endswith("user"):
                assert value.lower() not in WEAK and len(value) >= 16, key
    # "ghost" and "mysql" are names here (database, host), never a password
    leaked = [v for o in objects for v in _strings(o) if v.lower() in WEAK - {"ghost", "mysql"}]
    assert leaked == []


SOURCE_FILES = sorted((REPO / "cephlab" / "k8s").glob("*.py")) + [REPO / "Vagrantfile"]
ASSIGNED_LITERAL = re.compile(
    r"""(?ix)(password|passwd|secret|token|access_?key)\w*["']?\s*[:=]\s*["']([^"'$\s{}]{3,})["']""")


@pytest.mark.parametrize("path", SOURCE_FILES, ids=lambda p: p.name)
def test_sources_hold_no_hardcoded_credentials(path):
    hits = [m_.group(0) for m_ in ASSIGNED_LITERAL.finditer(path.read_text())
            if not re.fullmatch(r"rook-(csi|ceph)-[a-z-]+|[a-z-]+-credentials|[a-z]+-password|[A-Z_]+",
                                m_.group(2))]
    assert hits == [], f"{path.name}: {hits}"


def test_validated_objects_cover_every_object_of_both_plans(tmp_path):
    """The objects validated above are exactly those the plans write, so the plans are valid too."""
    from cephlab.k8s.plan import write_plan
    validated = [yaml.safe_dump(o, sort_keys=True) for o in ALL]
    for target in ("vagrant", "cluster"):
        root = tmp_path / target
        write_plan(root, target=target, secrets=FIXED_SECRETS)
        files = sorted(root.glob("*/*.yaml"))
        assert len(files) >= 30
        for f in files:
            obj = yaml.safe_load(f.read_text())
            assert yaml.safe_dump(obj, sort_keys=True) in validated, f"{f.relative_to(root)} was not validated"
