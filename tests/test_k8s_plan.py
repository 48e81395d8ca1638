"""Offline checks of the written lab plan (cephlab.k8s.plan) and the Vagrantfile."""

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

from cephlab.k8s import versions  # noqa: E402
from cephlab.k8s.plan import write_plan  # noqa: E402

STAGE_ORDER = ["vms", "kubernetes", "cni", "master_isolation", "dashboard", "rook_operator",
               "ceph_cluster", "ceph_dashboard", "block_pool", "shared_filesystem", "object_store",
               "extend_storage", "toolbox", "pg_num", "remove_node", "minio", "mysql", "ghost"]
SECRETS = {
    "minio_root_user": "lab-plan",
    "minio_root_password": "plan-fixture-minio-8Hq2",
    "mysql_root_password": "plan-fixture-mysql-3Tz9",
    "ghost_db_user": "ghost",
    "ghost_db_password": "plan-fixture-ghost-5Wv1",
}


class Plan:
    def __init__(self, root: pathlib.Path, files: list[pathlib.Path]):
        self.root, self.files = root, files
        self.dirs = sorted(p for p in root.iterdir() if p.is_dir())

    def stage(self, slug: str) -> pathlib.Path:
        (d,) = [d for d in self.dirs if d.name.split("_", 1)[1] == slug]
        return d

    def commands(self, slug: str) -> list[str]:
        """The stage's command lines, without the header and comments."""
        lines = (self.stage(slug) / "commands.sh").read_text().splitlines()
        body = lines[lines.index(next(l for l in lines if l.startswith("TOOLS="))) + 1:]
        return [l for l in body if l and not l.startswith("#")]

    def objects(self, slug: str) -> list[dict]:
        out = []
        for f in sorted(self.stage(slug).glob("*.yaml")):
            docs = [d for d in yaml.safe_load_all(f.read_text()) if d]
            assert len(docs) == 1, f"{f} must hold exactly one object"
            out.append(docs[0])
        return out


def _index(lines: list[str], pattern: str) -> int:
    for i, line in enumerate(lines):
        if re.search(pattern, line):
            return i
    raise AssertionError(f"no line matches {pattern!r} in:\n" + "\n".join(lines))


def _in_order(lines: list[str], *patterns: str) -> None:
    positions = [_index(lines, p) for p in patterns]
    assert positions == sorted(positions), list(zip(patterns, positions))


@pytest.fixture(scope="module")
def plan(tmp_path_factory) -> Plan:
    root = tmp_path_factory.mktemp("plan")
    return Plan(root, write_plan(root, secrets=SECRETS))


@pytest.fixture(scope="module")
def cluster_plan(tmp_path_factory) -> Plan:
    root = tmp_path_factory.mktemp("cluster-plan")
    return Plan(root, write_plan(root, target="cluster", secrets=SECRETS))


def test_stage_directories_in_stage_order(plan):
    assert [d.name.split("_", 1)[1] for d in plan.dirs] == STAGE_ORDER
    assert [d.name.split("_", 1)[0] for d in plan.dirs][:3] == ["01", "02", "03"]
    assert plan.files[-1] == plan.root / "plan.md"
    # returned files follow stage order
    stage_of = [STAGE_ORDER.index(f.parent.name.split("_", 1)[1]) for f in plan.files[:-1]]
    assert stage_of == sorted(stage_of)
    index = (plan.root / "plan.md").read_text()
    _in_order(index.splitlines(), *[rf"\[{s}\]" for s in STAGE_ORDER])
    assert versions.ROOK in index and versions.CEPH_IMAGE in index


def test_stage_keys_agree_with_the_engine():
    from cephlab import stages
    from cephlab.k8s.plan_build import STAGES
    # Stages that build nothing of their own (faults) have nothing to plan.
    assert [(k, s) for k, s, _ in STAGES] == [(st.key, st.slug) for st in stages.STAGES if st.builds]


def test_writing_a_plan_runs_nothing(tmp_path, monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError(f"write_plan tried to run {a!r}")
    for name in ("Popen", "run", "call", "check_call", "check_output"):
        monkeypatch.setattr(subprocess, name, forbidden)
    monkeypatch.setattr(os, "system", forbidden)
    files = write_plan(tmp_path / "p")
    assert len(files) > 40


def test_every_manifest_is_one_object_and_secrets_are_private(plan):
    for d in plan.dirs:
        for f in d.glob("*.yaml"):
            (obj,) = [x for x in yaml.safe_load_all(f.read_text()) if x]
            assert {"apiVersion", "kind", "metadata"} <= set(obj)
            mode = stat.S_IMODE(f.stat().st_mode)
            if obj["kind"] == "Secret":
                assert mode == 0o600, f
            assert f"-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml" in f.name


def test_every_manifest_is_applied_in_file_order(plan):
    for d in plan.dirs:
        applied = re.findall(r'kubectl apply -f "\$STAGE/([^"]+)"', (d / "commands.sh").read_text())
        assert applied == sorted(p.name for p in d.glob("*.yaml")), d.name


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_commands_are_valid_bash(plan, cluster_plan):
    for p in (plan, cluster_plan):
        for d in p.dirs:
            script = d / "commands.sh"
            assert os.access(script, os.X_OK)
            res = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
            assert res.returncode == 0, f"{script}: {res.stderr}"


def test_vms_and_kubernetes(plan):
    vms = plan.commands("vms")
    assert vms[0].startswith("vagrant up")
    k = plan.commands("kubernetes")
    init = k[_index(k, r"kubeadm init")]
    assert "--pod-network-cidr=192.168.0.0/16" in init
    assert "--apiserver-advertise-address=10.254.1.2" in init
    assert f"--kubernetes-version=v{versions.KUBERNETES}" in init
    assert "vagrant ssh k8s-1" in init
    _in_order(k, r"k8s-1 -c 'sudo swapoff -a'", r"kubeadm init", r"token create --print-join-command",
              r"vagrant ssh k8s-2 -c \"sudo \$JOIN_CMD\"", r"vagrant ssh k8s-3 -c \"sudo \$JOIN_CMD\"",
              r"admin\.conf", r"kubectl get nodes")


def test_cni_and_taint(plan):
    cni = plan.commands("cni")
    _in_order(cni, re.escape(f"kubectl apply --server-side -f {versions.CALICO_MANIFEST}"),
              r"IP_AUTODETECTION_METHOD=cidr=10\.254\.1\.0/24", r"wait node --all --for=condition=Ready")
    assert plan.commands("master_isolation")[0] == \
        "kubectl taint nodes k8s-1 node-role.kubernetes.io/control-plane:NoSchedule-"


def test_dashboard(plan):
    cmds = plan.commands("dashboard")
    _in_order(cmds, re.escape(versions.DASHBOARD_CHART_URL), r"apply .*serviceaccount-admin-user",
              r"apply .*clusterrolebinding-admin-user", r"apply .*service-kubernetes-dashboard-nodeport",
              r"create token admin-user")
    kinds = [o["kind"] for o in plan.objects("dashboard")]
    assert kinds == ["ServiceAccount", "ClusterRoleBinding", "Service"]


def test_rook_operator_manifests_by_url_at_the_pinned_tag(plan):
    cmds = plan.commands("rook_operator")
    base = f"https://raw.githubusercontent.com/rook/rook/{versions.ROOK}/deploy/examples/"
    _in_order(cmds, *[re.escape(f"kubectl apply --server-side -f {base}{n}.yaml")
                      for n in ("crds", "common", "csi-operator", "operator")])
    assert versions.ROOK == "v1.20.6"


def _devices(cluster):
    return {n["name"]: [d["name"] for d in n["devices"]] for n in cluster["spec"]["storage"]["nodes"]}


def test_cluster_grows_then_shrinks(plan):
    (c1,) = plan.objects("ceph_cluster")
    assert _devices(c1) == {"k8s-1": ["sdc"], "k8s-2": ["sdc"], "k8s-3": ["sdc"]}
    (c2,) = plan.objects("extend_storage")
    assert _devices(c2) == {n: ["sdc", "sdd"] for n in ("k8s-1", "k8s-2", "k8s-3")}
    c3 = next(o for o in plan.objects("remove_node") if o["kind"] == "CephCluster")
    assert _devices(c3) == {"k8s-2": ["sdc", "sdd"], "k8s-3": ["sdc", "sdd"]}
    assert plan.commands("ceph_cluster")[1].startswith("kubectl -n rook-ceph wait cephcluster/rook-ceph")


def test_storage_stages_apply_their_objects(plan):
    assert [(o["kind"], o["metadata"]["name"]) for o in plan.objects("block_pool")] == \
        [("CephBlockPool", "replicapool"), ("StorageClass", "rook-ceph-block")]
    assert [o["kind"] for o in plan.objects("shared_filesystem")] == ["CephFilesystem"]
    assert [o["kind"] for o in plan.objects("object_store")] == \
        ["CephObjectStore", "Service", "StorageClass", "ObjectBucketClaim"]
    assert [o["metadata"]["name"] for o in plan.objects("ceph_dashboard")] == \
        ["rook-ceph-mgr-dashboard-external-http"]


def test_toolbox_commands(plan):
    cmds = plan.commands("toolbox")
    _in_order(cmds, r"apply .*deployment-rook-ceph-tools", r"rollout status deploy/rook-ceph-tools",
              r"ceph status$", r"ceph osd status$", r"ceph df$", r"rados df$")


def test_pg_num_turns_the_autoscaler_off_first(plan):
    cmds = plan.commands("pg_num")
    for pool in ("k8s-fs-data0", "replicapool"):
        _in_order(cmds, rf"ceph osd pool set {pool} pg_autoscale_mode off",
                  rf"ceph osd pool set {pool} pg_num 150", rf"ceph osd pool get {pool} pg_num")
    declared = {o["kind"]: o for o in plan.objects("pg_num")}
    assert declared["CephBlockPool"]["spec"]["parameters"]["pg_num"] == "150"
    assert declared["CephFilesystem"]["spec"]["dataPools"][0]["parameters"]["pg_autoscale_mode"] == "off"


def test_remove_node_purges_safely_in_order(plan):
    cmds = plan.commands("remove_node")
    _in_order(cmds,
              r"ceph osd ls-tree k8s-1",
              r"scale deploy/rook-ceph-operator --replicas=0",
              r"apply .*cephcluster-rook-ceph",
              r"ceph osd out osd\.\$id",
              r"ceph osd safe-to-destroy osd\.\$id",
              r"scale deploy/rook-ceph-osd-\$id --replicas=0",
              r"ceph osd down osd\.\$id",
              r"ceph osd purge \$id --yes-i-really-mean-it",
              r"ceph osd crush rm k8s-1$",
              r"vagrant ssh k8s-1 -c 'sudo sh -s' < \"\$STAGE/wipe-disks\.sh\"",
              r"scale deploy/rook-ceph-operator --replicas=1",
              r"ceph osd tree")
    wipe = (plan.stage("remove_node") / "wipe-disks.sh").read_text()
    assert "for dev in /dev/sdc /dev/sdd" in wipe and "wipefs --all" in wipe and "sgdisk --zap-all" in wipe
    assert "/var/lib/rook" not in wipe     # k8s-1 still runs a mon


def test_apps(plan):
    minio = plan.commands("minio")
    _in_order(minio, r"apply .*persistentvolume-cephfs-root", r"apply .*pod-cephfs-helper",
              r"mkdir -p /mnt/cephfs/minio /mnt/cephfs/ghost", r"apply .*secret-minio-credentials",
              r"apply .*deployment-minio", r"rollout status deploy/minio", r"10\.254\.1\.2:30010")
    mysql = plan.commands("mysql")
    _in_order(mysql, r"apply .*secret-mysql-credentials", r"apply .*persistentvolumeclaim-mysql-pvc",
              r"apply .*deployment-mysql", r"rollout status deploy/mysql", r"SHOW DATABASES")
    ghost = plan.commands("ghost")
    _in_order(ghost, r"apply .*job-ghost-db-init", r"wait job/ghost-db-init --for=condition=Complete",
              r"apply .*deployment-ghost", r"rollout status deploy/ghost", r"SHOW TABLES FROM ghost")


def test_credentials_only_in_secret_manifests(plan):
    values = [v for k, v in SECRETS.items() if k != "ghost_db_user"]
    for f in plan.files:
        text = f.read_text()
        holds = [v for v in values if v in text]
        if f.suffix == ".yaml" and yaml.safe_load(text)["kind"] == "Secret":
            assert holds, f
        else:
            assert holds == [], f"{f} holds a credential"
    for d in plan.dirs:
        assert not re.search(r"--(password|token)[= ]\S", (d / "commands.sh").read_text())


def test_plans_generate_their_own_credentials(tmp_path):
    def secret_values(root):
        return sorted(v for f in root.rglob("*-secret-*.yaml")
                      for v in yaml.safe_load(f.read_text())["stringData"].values())
    write_plan(tmp_path / "a")
    write_plan(tmp_path / "b")
    a, b = secret_values(tmp_path / "a"), secret_values(tmp_path / "b")
    assert len(a) == 5 and set(a) - {"ghost"} and not (set(a) - {"ghost"}) & set(b)


def test_cluster_target_creates_no_nodes(cluster_plan):
    everything = "\n".join(line for s in STAGE_ORDER for line in cluster_plan.commands(s))
    assert "vagrant" not in everything and "kubeadm" not in everything
    assert cluster_plan.commands("vms") == ["kubectl get nodes -o wide"]
    assert any(l.startswith("kubectl debug node/k8s-1 --profile=sysadmin") and "wipe-disks.sh" in l
               for l in cluster_plan.commands("remove_node"))
    header = (cluster_plan.stage("cni") / "commands.sh").read_text()
    assert "KUBECONFIG" not in header       # the user's cluster, the user's kubeconfig


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
    write_plan(tmp_path, nodes=("a-1", "a-2", "a-3", "a-4"))
    write_plan(tmp_path)
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
