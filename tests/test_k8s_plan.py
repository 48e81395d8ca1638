"""Offline checks of the lab plan: the typed operations per stage (cephlab.k8s.plan_build),
a few of their renderings in commands.sh (cephlab.k8s.plan), and the Vagrantfile."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import stat
import subprocess
import sys

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from cephlab import stages  # noqa: E402
from cephlab.k8s import plan_ops as ops  # noqa: E402
from cephlab import versions  # noqa: E402
from cephlab.k8s.plan import write_plan  # noqa: E402
from cephlab.k8s.plan_build import build, planned_stages  # noqa: E402
from cephlab.k8s.transport import KubectlDebug  # noqa: E402

pytestmark = pytest.mark.standin

STAGE_ORDER = [s.slug for s in stages.STAGES if s.builds]
SECRETS = {
    "minio_root_user": "lab-fixture-user",
    "minio_root_password": "plan-fixture-minio-8Hq2",
    "mysql_root_password": "plan-fixture-mysql-3Tz9",
    "ghost_db_user": "ghost",
    "ghost_db_password": "plan-fixture-ghost-5Wv1",
}
NODES = ("k8s-1", "k8s-2", "k8s-3")


def plans(target="vagrant", **kw) -> dict[str, ops.StagePlan]:
    return {p.slug: p for p in build(target, NODES, SECRETS, **kw)}


def of(plan: ops.StagePlan, kind) -> list:
    return [op for op in plan.ops if isinstance(op, kind)]


def positions(plan: ops.StagePlan, *preds) -> list[int]:
    """Index of the first op matching each predicate; the indices must rise."""
    out = []
    for pred in preds:
        hits = [i for i, op in enumerate(plan.ops) if pred(op)]
        assert hits, f"no op of {plan.slug} matches {pred}: {plan.ops}"
        out.append(hits[0])
    assert out == sorted(out), out
    return out


def toolbox(*argv):
    return lambda op: isinstance(op, ops.Toolbox) and op.argv == argv


def applies(kind, name=None):
    return lambda op: isinstance(op, ops.Apply) and op.obj["kind"] == kind and (
        name is None or op.obj["metadata"]["name"] == name)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("plan")
    write_plan(root, secrets=SECRETS)
    return root


# ---------------------------------------------------------------------------- the table
def test_plans_are_keyed_by_the_one_stage_table():
    built = build("vagrant", NODES, SECRETS)
    assert [p.stage for p in built] == list(planned_stages())
    assert all(p.stage is stages.get(p.slug) for p in built)      # the same Stage objects
    assert [p.slug for p in built] == STAGE_ORDER


def test_every_op_renders_and_the_engine_runs_every_op_type():
    from cephlab.k8s.plan_runner import PlanRunner
    assert set(PlanRunner.HANDLERS) == set(ops.OP_TYPES)
    for target in ("vagrant", "cluster"):
        for plan in build(target, NODES, SECRETS):
            for op in plan.ops:
                assert op.render(), (plan.slug, op)


# ---------------------------------------------------------------------------- stages as ops
def test_kubernetes_is_safe_to_run_twice():
    k = plans()["kubernetes"]
    (init,) = [op for op in of(k, ops.Ssh) if op.argv[:2] == ("kubeadm", "init")]
    assert init.node == "k8s-1" and init.unless_exists == "/etc/kubernetes/admin.conf"
    assert f"--kubernetes-version=v{versions.KUBERNETES}" in init.argv
    assert "--pod-network-cidr=192.168.0.0/16" in init.argv
    assert "--apiserver-advertise-address=10.254.1.2" in init.argv
    (join,) = of(k, ops.KubeadmJoin)
    assert join.first == "k8s-1" and join.nodes == ("k8s-2", "k8s-3")
    assert join.guard == "/etc/kubernetes/kubelet.conf"
    positions(k, lambda op: isinstance(op, ops.Ssh) and op.argv == ("swapoff", "-a"),
              lambda op: op is init, lambda op: op is join,
              lambda op: isinstance(op, ops.FetchKubeconfig))


def test_calico_autodetection_is_set_before_the_manifest():
    cni = plans()["cni"]
    positions(cni, applies("ConfigMap", "kubernetes-services-endpoint"),
              lambda op: isinstance(op, ops.ApplyUrl) and op.url == versions.CALICO_MANIFEST,
              lambda op: isinstance(op, ops.Rollout) and op.name == "calico-node",
              lambda op: isinstance(op, ops.WaitNodesReady))
    (cm,) = plans()["cni"].objects
    assert cm["data"] == {"IP_AUTODETECTION_METHOD": "kubernetes-internal-ip",
                          "CALICO_IPV4POOL_CIDR": "192.168.0.0/16"}


def test_taint_and_dashboard():
    (taint,) = of(plans()["master_isolation"], ops.Taint)
    assert (taint.node, taint.taint, taint.remove) == (
        "k8s-1", "node-role.kubernetes.io/control-plane:NoSchedule", True)
    d = plans()["dashboard"]
    positions(d, lambda op: isinstance(op, ops.HelmInstall) and op.chart == versions.DASHBOARD_CHART_URL,
              applies("ServiceAccount", "admin-user"), applies("ClusterRoleBinding"), applies("Service"),
              lambda op: isinstance(op, ops.Kubectl) and op.secret and "token" in op.argv,
              lambda op: isinstance(op, ops.HttpCheck))


def test_rook_operator_by_url_at_the_pinned_tag_and_loop_devices_in_what_is_applied():
    urls = [op.url for op in of(plans()["rook_operator"], (ops.ApplyUrl, ops.ApplyUrlEdited))]
    base = f"https://raw.githubusercontent.com/rook/rook/{versions.ROOK}/deploy/examples/"
    assert urls == [f"{base}{n}.yaml" for n in ("crds", "common", "csi-operator", "operator")]
    assert not of(plans()["rook_operator"], ops.ApplyUrlEdited)
    (edited,) = of(plans("cluster", loop_devices=True)["rook_operator"], ops.ApplyUrlEdited)
    assert edited.edits == (('  ROOK_CEPH_ALLOW_LOOP_DEVICES: "false"', '  ROOK_CEPH_ALLOW_LOOP_DEVICES: "true"'),)


def _devices(cluster):
    return {n["name"]: [d["name"] for d in n["devices"]] for n in cluster["spec"]["storage"]["nodes"]}


def test_cluster_grows_then_shrinks_and_the_toolbox_comes_with_it():
    p = plans()
    c1, toolbox_deploy = p["ceph_cluster"].objects
    assert _devices(c1) == {"k8s-1": ["sdc"], "k8s-2": ["sdc"], "k8s-3": ["sdc"]}
    assert toolbox_deploy["metadata"]["name"] == "rook-ceph-tools"
    positions(p["ceph_cluster"], applies("CephCluster"),
              lambda op: isinstance(op, ops.WaitPhase) and op.kind == "CephCluster",
              applies("Deployment", "rook-ceph-tools"),
              lambda op: isinstance(op, ops.Rollout) and op.name == "rook-ceph-tools")
    (c2,) = p["extend_storage"].objects
    assert _devices(c2) == {n: ["sdc", "sdd"] for n in NODES}
    assert of(p["extend_storage"], ops.WaitCount)[0].at_least == 6
    (c3,) = p["remove_node"].objects
    assert _devices(c3) == {"k8s-2": ["sdc", "sdd"], "k8s-3": ["sdc", "sdd"]}
    # no stage after ceph_cluster applies the toolbox again; stage toolbox asserts it is there
    assert not [s for s in STAGE_ORDER[STAGE_ORDER.index("ceph_cluster") + 1:]
                if any(o["metadata"]["name"] == "rook-ceph-tools" for o in p[s].objects)]
    assert isinstance(p["toolbox"].ops[1], ops.Rollout) and p["toolbox"].ops[1].name == "rook-ceph-tools"


def test_devices_and_address_are_parameters_never_patched_text():
    p = plans("cluster", address="172.18.0.3", devices={n: (f"loop{i}0", f"loop{i}1") for i, n in enumerate(NODES)})
    (c1, _) = p["ceph_cluster"].objects
    assert _devices(c1) == {"k8s-1": ["loop00"], "k8s-2": ["loop10"], "k8s-3": ["loop20"]}
    urls = [op.url for s in p.values() for op in of(s, ops.HttpCheck)]
    assert urls and all(u.startswith("http://172.18.0.3:") or u.startswith("https://172.18.0.3:") for u in urls)
    ghost = next(o for o in p["ghost"].objects if o["kind"] == "Deployment")
    env = {e["name"]: e.get("value") for e in ghost["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["url"] == "http://172.18.0.3:30030"
    (script,) = of(p["remove_node"], ops.NodeScript)
    assert "for dev in /dev/loop00 /dev/loop01; do" in script.text and isinstance(script.via, KubectlDebug)


def test_storage_stages_apply_their_objects():
    p = plans()
    assert [(o["kind"], o["metadata"]["name"]) for o in p["block_pool"].objects] == \
        [("CephBlockPool", "replicapool"), ("StorageClass", "rook-ceph-block")]
    assert p["block_pool"].objects[0]["metadata"]["annotations"] == {"rook.io/force-deletion": "true"}
    assert [o["kind"] for o in p["shared_filesystem"].objects] == ["CephFilesystem"]
    assert [o["kind"] for o in p["object_store"].objects] == \
        ["CephObjectStore", "Service", "StorageClass", "ObjectBucketClaim"]
    assert [o["metadata"]["name"] for o in p["ceph_dashboard"].objects] == \
        ["rook-ceph-mgr-dashboard-external-http"]


def test_toolbox_and_pg_num():
    p = plans()
    positions(p["toolbox"], toolbox("status"), toolbox("osd", "status"), toolbox("df"))
    assert of(p["toolbox"], ops.Toolbox)[-1].tool == "rados"
    for pool in ("k8s-fs-data0", "replicapool"):
        positions(p["pg_num"], toolbox("osd", "pool", "set", pool, "pg_autoscale_mode", "off"),
                  toolbox("osd", "pool", "set", pool, "pg_num", "150"),
                  toolbox("osd", "pool", "get", pool, "pg_num"))
    declared = {o["kind"]: o for o in p["pg_num"].objects}
    assert declared["CephBlockPool"]["spec"]["parameters"]["pg_num"] == "150"
    assert declared["CephFilesystem"]["spec"]["dataPools"][0]["parameters"]["pg_autoscale_mode"] == "off"


def test_remove_node_in_order_with_rooks_crush_host_name():
    r = plans()["remove_node"]
    positions(r, lambda op: isinstance(op, ops.Scale) and op.replicas == 0, applies("CephCluster"),
              lambda op: isinstance(op, ops.RemoveOsds), lambda op: isinstance(op, ops.NodeScript),
              lambda op: isinstance(op, ops.Scale) and op.replicas == 1, toolbox("osd", "tree"))
    assert of(r, ops.RemoveOsds)[0].crush_host == "k8s-1"
    dotted = {p.slug: p for p in build("cluster", ("w1.lab.example", "w2", "w3"), SECRETS)}
    assert of(dotted["remove_node"], ops.RemoveOsds)[0].crush_host == "w1-lab-example"
    wipe = of(r, ops.NodeScript)[0].text
    assert "for dev in /dev/sdc /dev/sdd" in wipe and "wipefs --all" in wipe and "sgdisk --zap-all" in wipe
    assert "for gib in 0 1 10 100 1000" in wipe and "bs=1K count=200" in wipe
    assert "/var/lib/rook" not in wipe     # k8s-1 still runs a mon


def test_remove_osds_waits_for_the_pods_before_down_and_purge():
    text = ops.RemoveOsds("k8s-1").render()
    lines = text.splitlines()
    order = [next(i for i, l in enumerate(lines) if needle in l) for needle in
             ("osd out", "safe-to-destroy", "--replicas=0", "ceph-osd-id=$id", "osd down", "osd purge",
              "osd crush rm k8s-1")]
    assert order == sorted(order)


def test_http_checks_retry_with_a_bound():
    checks = [op for p in plans().values() for op in of(p, ops.HttpCheck)]
    assert len(checks) == 4
    for op in checks:
        argv = op.argv()
        assert "--retry-connrefused" in argv and argv[argv.index("--retry") + 1] == "20"
        assert "--max-time" in argv


def test_apps():
    p = plans()
    positions(p["minio"], applies("PersistentVolume", "cephfs-root"), applies("Pod", "cephfs-helper"),
              lambda op: isinstance(op, ops.Exec) and op.name == "cephfs-helper",
              applies("Secret", "minio-credentials"), applies("Deployment", "minio"),
              lambda op: isinstance(op, ops.Rollout) and op.name == "minio",
              lambda op: isinstance(op, ops.HttpCheck) and op.url.endswith(":30010/minio/health/ready"))
    positions(p["mysql"], applies("Secret", "mysql-credentials"), applies("PersistentVolumeClaim"),
              applies("Deployment", "mysql"), lambda op: isinstance(op, ops.Rollout),
              lambda op: isinstance(op, ops.Exec) and "SHOW DATABASES" in op.argv[-1])
    positions(p["ghost"], applies("Job", "ghost-db-init"),
              lambda op: isinstance(op, ops.WaitCondition) and op.condition == "Complete",
              applies("Deployment", "ghost"), lambda op: isinstance(op, ops.Rollout),
              lambda op: isinstance(op, ops.Exec) and "SHOW TABLES FROM ghost" in op.argv[-1])


def test_cluster_target_creates_no_nodes():
    p = plans("cluster")
    kinds = {type(op) for s in p.values() for op in s.ops}
    assert not kinds & {ops.VagrantUp, ops.Ssh, ops.KubeadmJoin, ops.FetchKubeconfig}
    assert isinstance(of(p["remove_node"], ops.NodeScript)[0].via, KubectlDebug)


# ---------------------------------------------------------------------------- rendering
def test_rendering_quotes_arguments_and_guards():
    init = ops.Ssh("k8s-1", ("kubeadm", "init", "--x=a b"), unless_exists="/etc/kubernetes/admin.conf")
    assert init.render() == ("vagrant ssh k8s-1 -c 'sudo test -e /etc/kubernetes/admin.conf || "
                             "sudo kubeadm init '\"'\"'--x=a b'\"'\"''")
    assert ops.Toolbox(("osd", "pool", "get", "replicapool", "pg_num")).render() == (
        "kubectl -n rook-ceph exec deploy/rook-ceph-tools -- ceph --connect-timeout 15 osd pool get "
        "replicapool pg_num")
    secret = ops.Apply({"kind": "Secret", "metadata": {"name": "s", "namespace": "default"}}, "01-secret-s.yaml")
    assert secret.render() == ('kubectl -n default get secret s >/dev/null 2>&1 || '
                               'kubectl create -f "$STAGE/01-secret-s.yaml"')


def test_written_plan_dirs_files_and_modes(written):
    dirs = sorted(p for p in written.iterdir() if p.is_dir())
    assert [d.name.split("_", 1)[1] for d in dirs] == STAGE_ORDER
    index = (written / "plan.md").read_text()
    assert versions.ROOK in index and versions.CEPH_IMAGE in index and "plan checker" in index
    for d in dirs:
        text = (d / "commands.sh").read_text()
        downloaded = re.findall(r'-o "\$STAGE/([^"]+)"', text)   # upstream manifests, at run time
        applied = [f for f in re.findall(r'-f "\$STAGE/([^"]+)"', text) if f not in downloaded]
        assert applied == sorted(p.name for p in d.glob("*.yaml")), d.name
        for f in d.glob("*.yaml"):
            (obj,) = [x for x in yaml.safe_load_all(f.read_text()) if x]
            if obj["kind"] == "Secret":
                assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_commands_are_valid_bash(tmp_path):
    for target in ("vagrant", "cluster"):
        write_plan(tmp_path / target, target=target, secrets=SECRETS)
        for script in (tmp_path / target).glob("*/commands.sh"):
            assert os.access(script, os.X_OK)
            res = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
            assert res.returncode == 0, f"{script}: {res.stderr}"


def test_writing_a_plan_runs_nothing(tmp_path, monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError(f"write_plan tried to run {a!r}")
    for name in ("Popen", "run", "call", "check_call", "check_output"):
        monkeypatch.setattr(subprocess, name, forbidden)
    monkeypatch.setattr(os, "system", forbidden)
    files = write_plan(tmp_path / "p")
    assert len(files) > 40


def test_credentials_only_in_secret_manifests(written):
    values = [v for k, v in SECRETS.items() if k != "ghost_db_user"]
    for f in written.rglob("*"):
        if not f.is_file():
            continue
        text = f.read_text()
        holds = [v for v in values if v in text]
        if f.suffix == ".yaml" and yaml.safe_load(text).get("kind") == "Secret":
            assert holds, f
        else:
            assert holds == [], f"{f} holds a credential"
        assert not re.search(r"--(password|token)[= ]\S", text) or f.suffix == ".yaml"


def test_plans_generate_their_own_credentials(tmp_path):
    def secret_values(root):
        return sorted(v for f in root.rglob("*-secret-*.yaml")
                      for v in yaml.safe_load(f.read_text())["stringData"].values())
    write_plan(tmp_path / "a")
    write_plan(tmp_path / "b")
    a, b = secret_values(tmp_path / "a"), secret_values(tmp_path / "b")
    assert len(a) == 5 and set(a) - {"ghost"} and not (set(a) - {"ghost"}) & set(b)


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown target 'kind'"):
        write_plan(tmp_path / "x", target="kind")
    with pytest.raises(ValueError, match="at least 3"):
        write_plan(tmp_path / "x", nodes=("k8s-1", "k8s-2"))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        write_plan(busy)
    assert (busy / "notes.txt").read_text() == "keep me"


def test_rewriting_a_plan_replaces_it(tmp_path):
    # fixed credentials: a generated password may contain "a-4"
    write_plan(tmp_path, nodes=("a-1", "a-2", "a-3", "a-4"), secrets=SECRETS)
    write_plan(tmp_path, secrets=SECRETS, force=True)
    text = "\n".join(f.read_text() for f in tmp_path.rglob("*") if f.is_file())
    assert "a-4" not in text and "k8s-3" in text


# ---- Vagrantfile ------------------------------------------------------------------------

VAGRANTFILE = REPO / "Vagrantfile"


def test_vagrantfile_pins_the_same_versions():
    text = VAGRANTFILE.read_text()
    (k8s,) = re.findall(r'^KUBERNETES_VERSION = "([^"]+)"', text, re.M)
    assert k8s == versions.KUBERNETES
    (rev,) = re.findall(r'^KUBERNETES_DEB_REVISION = "([^"]+)"', text, re.M)
    assert f"{k8s}-{rev}" == versions.KUBERNETES_DEB
    (box,) = re.findall(r'^DEFAULT_BOX = "([^"]+)"', text, re.M)
    assert box == versions.UBUNTU_BOX


def test_vagrantfile_env_vars_are_documented():
    used = set(re.findall(r'\b(LAB_[A-Z_]+)\b', VAGRANTFILE.read_text()))
    assert {"LAB_CPUS", "LAB_MEMORY", "LAB_BOX", "LAB_DISK_GB", "LAB_NODES"} <= used
    docs = (REPO / "docs" / "kubernetes-targets.md").read_text()
    header = VAGRANTFILE.read_text().split("KUBERNETES_VERSION =")[0]
    for var in used - {"LAB_HOSTS"}:          # LAB_HOSTS is internal (passed to provisioning)
        assert var in header, f"{var} not documented in the Vagrantfile header"
        assert var in docs, f"{var} not documented in docs/kubernetes-targets.md"


def test_vagrantfile_provisioning_covers_the_lab():
    text = VAGRANTFILE.read_text()
    for needle in ("swapoff -a", "chrony", "containerd", "SystemdCgroup = true", "pkgs.k8s.io",
                   "apt-mark hold kubelet kubeadm kubectl", "--node-ip=${NODE_IP}", "/etc/hosts",
                   ":virtualbox", ":libvirt", "private_network"):
        assert needle in text, needle


# Evaluates the Vagrantfile with a recording stand-in for Vagrant's config objects.
RUBY_STUB = r'''
require "json"
class Rec
  def initialize; @attrs = {}; @kids = {}; @calls = Hash.new { |h, k| h[k] = [] }; end
  def to_h
    h = @attrs.dup
    @kids.each { |k, v| h[k] = v.is_a?(Hash) ? v.transform_values(&:to_h) : v.to_h }
    @calls.each { |k, v| h[k] = v }
    h
  end
  def method_missing(name, *args, **kw, &blk)
    n = name.to_s
    return @attrs[n.chomp("=")] = args[0] if n.end_with?("=")
    if %w[define provider].include?(n)
      sub = Rec.new
      (@kids[n] ||= {})[args[0].to_s] = sub
      blk.call(sub) if blk
      return sub
    end
    if args.empty? && kw.empty?
      return @kids[n] ||= Rec.new
    end
    @calls[n] << { "args" => args.map { |a| a.is_a?(Symbol) ? a.to_s : a },
                   "kw" => kw.transform_keys(&:to_s).transform_values { |v| v.is_a?(Symbol) ? v.to_s : v } }
    nil
  end
  def respond_to_missing?(*) = true
end
module Vagrant
  def self.configure(_version)
    rec = Rec.new
    yield rec
    puts JSON.generate(rec.to_h)
  end
end
load ARGV[0]
'''


def _evaluate_vagrantfile(tmp_path, env=None):
    ruby = shutil.which("ruby")
    if ruby is None:
        pytest.skip("ruby not installed: cannot evaluate the Vagrantfile")
    stub = tmp_path / "stub.rb"
    stub.write_text(RUBY_STUB)
    copy = tmp_path / "Vagrantfile"      # a copy, so disk files are looked up under tmp_path
    copy.write_text(VAGRANTFILE.read_text())
    res = subprocess.run([ruby, str(stub), str(copy)], capture_output=True, text=True,
                         env={**{k: v for k, v in os.environ.items() if not k.startswith("LAB_")},
                              **(env or {})})
    return res


def test_vagrantfile_defaults(tmp_path):
    res = _evaluate_vagrantfile(tmp_path)
    assert res.returncode == 0, res.stderr
    conf = json.loads(res.stdout)
    assert conf["vm"]["box"] == versions.UBUNTU_BOX
    machines = conf["vm"]["define"]
    assert list(machines) == ["k8s-1", "k8s-2", "k8s-3"]
    for i, (name, m) in enumerate(machines.items()):
        assert m["vm"]["hostname"] == name
        assert m["vm"]["network"] == [{"args": ["private_network"], "kw": {"ip": f"10.254.1.{i + 2}"}}]
        vb, lv = m["vm"]["provider"]["virtualbox"], m["vm"]["provider"]["libvirt"]
        assert (vb["cpus"], vb["memory"], lv["cpus"], lv["memory"]) == (2, 4096, 2, 4096)
        media = [c["args"][0] for c in vb["customize"] if c["args"][0][0] == "createmedium"]
        assert [a[a.index("--size") + 1] for a in media] == [1024, 10240, 10240]
        disks = [(s["kw"]["device"], s["kw"]["size"]) for s in lv["storage"]]
        assert disks == [("sdb", "1G"), ("sdc", "10G"), ("sdd", "10G")]
        (prov,) = m["vm"]["provision"]
        env = prov["kw"]["env"]
        assert env["K8S_VERSION"] == versions.KUBERNETES and env["NODE_IP"] == f"10.254.1.{i + 2}"
        assert "10.254.1.4 k8s-3" in env["LAB_HOSTS"]


def test_vagrantfile_env_overrides(tmp_path):
    res = _evaluate_vagrantfile(tmp_path, {"LAB_NODES": "4", "LAB_CPUS": "4", "LAB_MEMORY": "8192",
                                           "LAB_DISK_GB": "20", "LAB_BOX": "example/box"})
    assert res.returncode == 0, res.stderr
    conf = json.loads(res.stdout)
    assert conf["vm"]["box"] == "example/box"
    machines = conf["vm"]["define"]
    assert list(machines)[-1] == "k8s-4"
    assert machines["k8s-4"]["vm"]["network"][0]["kw"]["ip"] == "10.254.1.5"
    lv = machines["k8s-4"]["vm"]["provider"]["libvirt"]
    assert (lv["cpus"], lv["memory"], lv["storage"][-1]["kw"]["size"]) == (4, 8192, "20G")
    bad = _evaluate_vagrantfile(tmp_path, {"LAB_CPUS": "two"})
    assert bad.returncode != 0 and "LAB_CPUS must be an integer" in bad.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_toolbox_script_replaces_its_files_only_on_change(tmp_path):
    """Review item 12: a rados/rbd call must never read a keyring being rewritten."""
    from cephlab.k8s import rook
    for d in ("etc/ceph", "etc/rook", "etc/rook-secret"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "etc/rook/mon-endpoints").write_text("a=10.0.0.1:6789,b=10.0.0.2:6789")
    (tmp_path / "etc/rook-secret/keyring").write_text("AQB-stand-in==")
    once = rook.TOOLBOX_SCRIPT.replace("/etc/", f"{tmp_path}/etc/").replace(
        "while true; do sleep 30; write_config; done\n", "")
    env = dict(os.environ, ROOK_CEPH_USERNAME="client.admin")
    run = lambda: subprocess.run(["bash", "-c", once], check=True, env=env)  # noqa: E731
    run()
    keyring = tmp_path / "etc/ceph/keyring"
    assert keyring.read_text() == "[client.admin]\nkey = AQB-stand-in==\n"
    assert "mon_host = 10.0.0.1:6789,10.0.0.2:6789" in (tmp_path / "etc/ceph/ceph.conf").read_text()
    inode = keyring.stat().st_ino
    run()
    assert keyring.stat().st_ino == inode                      # unchanged: not rewritten
    (tmp_path / "etc/rook-secret/keyring").write_text("AQB-rotated==")
    run()
    assert keyring.stat().st_ino != inode and "AQB-rotated==" in keyring.read_text()


def test_the_steps_ceph_in_the_toolbox_gives_up_on_unreachable_mons():
    """Review item 12: the runner the Ceph steps use on Kubernetes passes --connect-timeout."""
    from cephlab.ceph import ToolboxCeph
    argv = ToolboxCeph("/kc", "ctx").command(["ceph", "status"])
    assert argv == ["kubectl", "--kubeconfig", "/kc", "--context", "ctx", "-n", "rook-ceph", "exec",
                    "-i", "deploy/rook-ceph-tools", "--", "ceph", "--connect-timeout", "15", "status"]
    assert ToolboxCeph().command(["rados", "df"])[-3:] == ["--", "rados", "df"]
