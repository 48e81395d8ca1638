"""The plan checker (cephlab.k8s.plan_check): both targets' plans pass it, and each check
turns red on a plan with that defect. Also: plan mode runs it and refuses a failing plan."""

from __future__ import annotations

import copy

import yaml

import pytest

from cephlab import stages
from cephlab.k8s import plan_ops as ops
from cephlab import versions
from cephlab.k8s.plan import write_plan
from cephlab.k8s.plan_build import build
from cephlab.k8s.plan_check import PlanCheckError, check_plan, findings
from tests.conftest import ROOT

pytestmark = pytest.mark.standin

SECRETS = {"minio_root_user": "lab-plan", "minio_root_password": "plan-fixture-minio-8Hq2",
           "mysql_root_password": "plan-fixture-mysql-3Tz9", "ghost_db_user": "ghost",
           "ghost_db_password": "plan-fixture-ghost-5Wv1"}
NODES = ("k8s-1", "k8s-2", "k8s-3")


def lab(target="vagrant", **kw) -> dict[str, ops.StagePlan]:
    return {p.slug: p for p in build(target, NODES, SECRETS, **kw)}


def red(plans: dict[str, ops.StagePlan], target="vagrant") -> str:
    problems = findings(list(plans.values()), target)
    assert problems, "the checker found nothing wrong"
    return "\n".join(problems)


def service(name, selector, node_port, namespace="default"):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"type": "NodePort", "selector": selector,
                     "ports": [{"port": 80, "targetPort": 80, "nodePort": node_port}]}}


def deployment(name, image, namespace="default"):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image}]}}}}


# ---------------------------------------------------------------------------- green
@pytest.mark.parametrize("target", ["vagrant", "cluster"])
def test_both_targets_plans_pass(target):
    assert findings(build(target, NODES, SECRETS), target) == []


def test_the_cluster_plan_for_the_kind_config_passes():
    from cephlab.k8s import cluster_config
    conf = cluster_config.load(ROOT / "examples" / "cluster-kind.yaml")
    plans = build("cluster", conf.names, SECRETS, **conf.plan_parameters())
    assert findings(plans, "cluster") == []


# ---------------------------------------------------------------------------- red, one per check
def test_red_on_the_pre_fix_toolbox_ordering():
    """Before the fix the toolbox came with stage toolbox: ceph_cluster..extend_storage ran
    their Ceph checks through `kubectl exec deploy/rook-ceph-tools` before any toolbox."""
    plans = lab()
    cc = plans["ceph_cluster"]
    moved = [op for op in cc.ops if (isinstance(op, ops.Apply) and op.obj["kind"] == "Deployment")
             or (isinstance(op, ops.Rollout) and op.name == "rook-ceph-tools")]
    cc.ops = [op for op in cc.ops if op not in moved]
    plans["toolbox"].ops[1:1] = moved
    text = red(plans)
    for stage in ("ceph_cluster", "ceph_dashboard", "block_pool", "shared_filesystem", "object_store",
                  "extend_storage"):
        assert (f"stage {stage}, its Ceph checks: Deployment rook-ceph/rook-ceph-tools: the stage's "
                "Ceph checks run `kubectl exec` in the Rook toolbox, but nothing earlier creates it") in text
    assert "stage toolbox" not in text


def test_red_on_toolbox_exec_before_the_toolbox():
    plans = lab()
    plans["block_pool"].ops.insert(0, ops.Toolbox(("osd", "pool", "ls")))
    plans["ceph_cluster"].ops = [op for op in plans["ceph_cluster"].ops
                                 if not (isinstance(op, ops.Apply) and op.obj["kind"] == "Deployment")
                                 and not isinstance(op, ops.Rollout)]
    assert ("stage block_pool, step 1 (kubectl -n rook-ceph exec deploy/rook-ceph-tools -- ceph "
            "--connect-timeout 15 osd pool ls): Deployment rook-ceph/rook-ceph-tools: `ceph osd pool ls` "
            "runs in it, but nothing earlier creates it") in red(plans)


def test_red_on_an_unguarded_kubeadm_init():
    plans = lab()
    k = plans["kubernetes"]
    k.ops = [ops.Ssh(op.node, op.argv) if isinstance(op, ops.Ssh) and op.argv[:2] == ("kubeadm", "init")
             else op for op in k.ops]
    text = red(plans)
    assert "stage kubernetes, step 5" in text and "(the stage run a second time): not safe to run twice" in text
    assert "node k8s-1: `kubeadm init` where /etc/kubernetes/admin.conf exists fails its preflight" in text


def test_red_on_an_unguarded_join():
    plans = lab()
    k = plans["kubernetes"]
    k.ops = [ops.KubeadmJoin(op.first, op.nodes, guard="") if isinstance(op, ops.KubeadmJoin) else op
             for op in k.ops]
    assert "node k8s-2: `kubeadm join` where /etc/kubernetes/kubelet.conf exists" in red(plans)


def test_red_on_a_service_without_pods():
    plans = lab()
    plans["ghost"].apply(service("ghost-admin", {"app": "ghost-admin"}, 30050))
    assert ("Service default/ghost-admin: selects no pod template of the plan (app=ghost-admin)"
            in red(plans))


def test_red_on_an_unpinned_image():
    plans = lab()
    plans["ghost"].apply(deployment("cache", "redis"), service("cache", {"app": "cache"}, 30051))
    assert "Deployment default/cache container cache: image 'redis' is not pinned" in red(plans)


def test_red_on_a_version_pinned_outside_versions_py():
    plans = lab()
    plans["ghost"].apply(deployment("mysql-old", "mysql:8.4.7"))
    text = red(plans)
    assert "image 'mysql:8.4.7' is pinned here, not in cephlab/versions.py" in text
    assert f"mysql pinned at 8.4.7, but at {versions.MYSQL_IMAGE.split(':')[1]}" in text


def test_red_on_a_secret_nothing_creates():
    plans = lab()
    pv = next(o for o in plans["minio"].objects if o["kind"] == "PersistentVolume")
    pv["spec"]["csi"]["nodeStageSecretRef"]["name"] = "rook-csi-cephfs-nodeplugin"
    assert ("PersistentVolume cephfs-root nodeStageSecretRef, but nothing earlier creates it"
            in red(plans))
    assert "Secret rook-ceph/rook-csi-cephfs-nodeplugin" in red(plans)


def test_red_on_a_storage_class_secret_and_a_missing_storage_class():
    plans = lab()
    sc = next(o for o in plans["block_pool"].objects if o["kind"] == "StorageClass")
    sc["parameters"]["csi.storage.k8s.io/node-stage-secret-name"] = "rook-csi-rbd-nodeplugin"
    sc["metadata"]["name"] = "rook-ceph-block-2"
    text = red(plans)
    assert "Secret rook-ceph/rook-csi-rbd-nodeplugin: StorageClass rook-ceph-block-2 parameter" in text
    assert "StorageClass rook-ceph-block: PersistentVolumeClaim default/mysql-pvc asks for it" in text


def test_red_on_a_cr_before_its_crd_and_an_object_before_its_namespace():
    plans = lab()
    plans["dashboard"].apply(copy.deepcopy(plans["block_pool"].objects[0]))
    text = red(plans)
    assert ("stage dashboard, step" in text and "CustomResourceDefinition cephblockpools.ceph.rook.io: "
            "CephBlockPool rook-ceph/replicapool is an instance of it, but nothing earlier creates it" in text)
    assert "Namespace rook-ceph: CephBlockPool rook-ceph/replicapool lives in it" in text


def test_red_on_rook_made_objects_before_their_cr():
    plans = lab()
    plans["rook_operator"].apply(copy.deepcopy(plans["ceph_dashboard"].objects[0]))
    assert "selects no pod template of the plan (app=rook-ceph-mgr" in red(plans)


def test_red_on_node_port_clash_and_range():
    plans = lab()
    plans["ghost"].apply(service("ghost-2", {"app": "ghost"}, 30030), service("ghost-3", {"app": "ghost"}, 8080))
    text = red(plans)
    assert "Service default/ghost-2: NodePort 30030 is claimed by Service default/ghost too" in text
    assert "Service default/ghost-3: NodePort 8080 lies outside 30000-32767" in text


def test_red_on_waits_exec_rollout_and_scale_of_what_nothing_made():
    plans = lab()
    plans["minio"].ops.insert(0, ops.Exec("Deployment", "mysql", "default", ("true",)))
    plans["block_pool"].ops.append(ops.WaitPhase("CephBlockPool", "otherpool", "rook-ceph", "Ready", 60))
    plans["mysql"].ops.append(ops.Rollout("Deployment", "mysqld", "default", 60))
    plans["pg_num"].ops.append(ops.Scale("rook-ceph-operatr", "rook-ceph", 1))
    text = red(plans)
    assert "Deployment default/mysql: a command runs in it, but nothing earlier creates it" in text
    assert "CephBlockPool rook-ceph/otherpool: waited for" in text
    assert "Deployment default/mysqld: its rollout waited for" in text
    assert "Deployment rook-ceph/rook-ceph-operatr: scaled" in text


def test_red_on_kubectl_create_and_differing_pool_create_run_twice():
    plans = lab()
    plans["mysql"].ops.append(ops.Kubectl(("-n", "default", "create", "configmap", "extra")))
    plans["pg_num"].ops += [ops.Toolbox(("osd", "pool", "create", "scratch", "32")),
                            ops.Toolbox(("osd", "pool", "create", "scratch", "64"))]
    text = red(plans)
    assert ("stage mysql, step 7 (kubectl -n default create configmap extra) (the stage run a second "
            "time): not safe to run twice: ConfigMap default/extra: `kubectl create` of an object "
            "that exists fails (AlreadyExists)") in text
    assert "Ceph pool scratch: created again with other arguments (64 after 32)" in text


def test_red_on_curl_to_a_port_nothing_opens_and_an_unknown_manifest():
    plans = lab()
    plans["minio"].ops.append(ops.HttpCheck("http://10.254.1.2:30099/"))
    plans["rook_operator"].ops.append(ops.ApplyUrl("https://example.org/operator.yaml"))
    text = red(plans)
    assert "http://10.254.1.2:30099/: no Service of the plan opens NodePort 30099" in text
    assert "manifest https://example.org/operator.yaml: not a pinned upstream manifest" in text


# ---------------------------------------------------------------------------- plan mode
def test_write_plan_refuses_a_failing_plan_and_writes_nothing(tmp_path, monkeypatch):
    def broken(*a, **kw):
        plans = build(*a, **kw)
        plans[[p.slug for p in plans].index("ghost")].apply(service("x", {"app": "x"}, 30060))
        return plans
    monkeypatch.setattr("cephlab.k8s.plan.build", broken)
    with pytest.raises(PlanCheckError, match="selects no pod template"):
        write_plan(tmp_path / "p", secrets=SECRETS)
    assert not (tmp_path / "p").exists()
    check_plan(build("vagrant", NODES, SECRETS), "vagrant")      # the real plan passes


def test_plan_mode_on_the_cluster_target_uses_the_cluster_config(tmp_path, harness_in_process):
    out = tmp_path / "plan"
    res = harness_in_process("--lab-target=cluster", f"--lab-plan={out}",
                      f"--lab-cluster-config={ROOT / 'examples' / 'cluster-kind.yaml'}")
    assert res.returncode == 0, (res.stdout + res.stderr)[-2000:]
    # the example's osd_layout local-pvs: volumes on each node's loop devices, then device sets
    stage = out / "07_ceph_cluster"
    [cluster] = [f.read_text() for f in stage.glob("*-cephcluster-rook-ceph.yaml")]
    volumes = "\n".join(f.read_text() for f in sorted(stage.glob("*-persistentvolume-*.yaml")))
    assert "cephlab-worker2" in volumes and "/dev/loop12" in volumes
    assert "volumeName: cephlab-osd-k8s-2-sdc" in cluster
    operator = (out / "06_rook_operator" / "commands.sh").read_text()
    assert 'ROOK_CEPH_ALLOW_LOOP_DEVICES: "true"' in operator and "kubectl patch" not in operator
    assert "plan checker" in (out / "plan.md").read_text()


def test_red_on_a_pods_secret_config_map_and_claim_and_a_pvcs_volume():
    plans = lab()
    deploy = copy.deepcopy(next(o for o in plans["mysql"].objects if o["kind"] == "Deployment"))
    deploy["metadata"]["name"] = "mysql-2"
    pod = deploy["spec"]["template"]["spec"]
    pod["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"] = "mysql-credentials-2"
    pod["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "mysql-pvc-2"}},
                      {"name": "conf", "configMap": {"name": "mysql-conf"}}]
    pvc = copy.deepcopy(next(o for o in plans["minio"].objects if o["kind"] == "PersistentVolumeClaim"))
    pvc["metadata"]["name"], pvc["spec"]["volumeName"] = "other", "no-such-pv"
    plans["mysql"].apply(deploy, pvc)
    text = red(plans)
    for missing in ("Secret default/mysql-credentials-2: Deployment default/mysql-2 reads its key root-password",
                    "PersistentVolumeClaim default/mysql-pvc-2: Deployment default/mysql-2 mounts it",
                    "ConfigMap default/mysql-conf: Deployment default/mysql-2 mounts it",
                    "PersistentVolume no-such-pv: PersistentVolumeClaim default/other binds it"):
        assert f"{missing}, but nothing earlier creates it" in text


def test_red_on_a_kubeconfig_read_before_init_and_an_unpinned_chart():
    plans = lab()
    k = plans["kubernetes"]
    fetch = next(op for op in k.ops if isinstance(op, ops.FetchKubeconfig))
    k.ops.remove(fetch)
    k.ops.insert(0, fetch)
    d = plans["dashboard"]
    d.ops[0] = ops.HelmInstall("kubernetes-dashboard", "kubernetes-dashboard/kubernetes-dashboard",
                               "kubernetes-dashboard")
    text = red(plans)
    assert "node k8s-1: /etc/kubernetes/admin.conf is read before `kubeadm init` made it" in text
    assert "chart kubernetes-dashboard/kubernetes-dashboard: not the pinned chart" in text


# ---------------------------------------------------------------------------- another OSD layout
def _local_volumes():
    """A layout of one local block volume per (node, device), in the shape the cluster
    config's local-pvs layout renders (StorageClass, PVs, storageClassDeviceSets)."""
    sc = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "osd-local"},
          "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer"}
    pvs = [{"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"osd-{n}-{d}"},
            "spec": {"capacity": {"storage": "10Gi"}, "volumeMode": "Block", "accessModes": ["ReadWriteOnce"],
                     "storageClassName": "osd-local", "local": {"path": f"/dev/{d}"}}}
           for n in NODES for d in ("sdc", "sdd")]

    def storage(spec):
        out = {k: v for k, v in spec.items() if k != "nodes"}
        out["storageClassDeviceSets"] = [
            {"name": f"{node['name']}-{dev['name']}", "count": 1, "portable": False,
             "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                 "storageClassName": "osd-local", "volumeName": f"osd-{node['name']}-{dev['name']}",
                 "volumeMode": "Block", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "10Gi"}}}}]}
            for node in spec["nodes"] for dev in node["devices"]]
        return out

    cleanup = [ops.Delete("PersistentVolumeClaim", "rook-ceph", selector=f"ceph.rook.io/DeviceSet=k8s-1-{d}")
               for d in ("sdc", "sdd")] + [ops.Delete("PersistentVolume", None, name=f"osd-k8s-1-{d}")
                                           for d in ("sdc", "sdd")]
    return [sc, *pvs], storage, cleanup


def test_a_local_volume_osd_layout_is_a_parameter_of_the_plan():
    objects, storage, cleanup = _local_volumes()
    plans = lab("cluster", osd_storage=storage, osd_objects=objects, osd_cleanup=cleanup)
    assert findings(list(plans.values()), "cluster") == []
    kinds = [o["kind"] for o in plans["ceph_cluster"].objects]
    assert kinds[:7] == ["StorageClass"] + ["PersistentVolume"] * 6 and kinds[7] == "CephCluster"
    c1 = plans["ceph_cluster"].objects[7]["spec"]["storage"]
    assert "nodes" not in c1 and [s["name"] for s in c1["storageClassDeviceSets"]] == \
        ["k8s-1-sdc", "k8s-2-sdc", "k8s-3-sdc"]
    (c3,) = plans["remove_node"].objects
    assert len(c3["spec"]["storage"]["storageClassDeviceSets"]) == 4
    remove = plans["remove_node"].ops
    i = next(i for i, op in enumerate(remove) if isinstance(op, ops.RemoveOsds))
    assert remove[i + 1:i + 5] == cleanup
    assert remove[i + 1].render() == ("kubectl -n rook-ceph delete persistentvolumeclaim -l "
                                      "ceph.rook.io/DeviceSet=k8s-1-sdc --ignore-not-found")
    # without the volumes, the checker names what the device sets need
    bare = lab("cluster", osd_storage=storage)
    assert ("PersistentVolume osd-k8s-1-sdc: CephCluster rook-ceph/rook-ceph device set k8s-1-sdc "
            "binds it, but nothing earlier creates it") in red(bare, "cluster")
    assert "StorageClass osd-local: CephCluster rook-ceph/rook-ceph device set" in red(bare, "cluster")


def test_the_cluster_configs_local_volume_layout_passes_the_checker(tmp_path):
    from cephlab.k8s import cluster_config
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump({
        "osd_layout": "local-pvs",
        "nodes": [{"name": f"w{i}", "devices": [f"loop{2 * i}", f"loop{2 * i + 1}"]} for i in range(3)]}))
    conf = cluster_config.load(path)
    plans = {p.slug: p for p in build("cluster", conf.names, SECRETS, **conf.plan_parameters())}
    assert findings(list(plans.values()), "cluster") == []
    kinds = [o["kind"] for o in plans["ceph_cluster"].objects]
    assert kinds[0] == "StorageClass" and kinds.count("PersistentVolume") == 6
    cluster = next(o for o in plans["extend_storage"].objects if o["kind"] == "CephCluster")
    assert len(cluster["spec"]["storage"]["storageClassDeviceSets"]) == 6
    deletes = [op for op in plans["remove_node"].ops if isinstance(op, ops.Delete)]
    assert [(d.kind, d.name or d.selector) for d in deletes] == [
        ("PersistentVolumeClaim", "ceph.rook.io/DeviceSet=k8s-1-sdc"),
        ("PersistentVolumeClaim", "ceph.rook.io/DeviceSet=k8s-1-sdd"),
        ("PersistentVolume", "cephlab-osd-k8s-1-sdc"), ("PersistentVolume", "cephlab-osd-k8s-1-sdd")]


def test_every_operation_type_is_modelled_or_listed_and_an_unknown_one_is_refused():
    from dataclasses import dataclass

    from cephlab.k8s.plan_check import UNMODELLED, Checker

    for t in ops.OP_TYPES:
        assert hasattr(Checker, "op_" + t.__name__) or t in UNMODELLED, t.__name__

    @dataclass(frozen=True)
    class Reboot:
        node: str

        def render(self) -> str:
            return f"reboot {self.node}"

    plan = ops.StagePlan(stages.get("vms"))
    plan.ops.append(Reboot("k8s-1"))
    with pytest.raises(TypeError, match="no model of Reboot"):
        Checker("vagrant").stage(plan)
