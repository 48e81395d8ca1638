"""The vagrant target without VMs: the stand-in ``vagrant`` (tests/fake_vagrant/vagrant) and a
stand-in ``kubectl`` on PATH record every call in one ordered log. Checked: what is refused
before any work, stages vms..master_isolation (kubeadm flags, joins, the kubeconfig in the
lab dir, Calico, the taint), reuse of a kept lab, resume of a stopped VM, and a destroy that
touches this lab's machines and nothing else."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cephlab import stages
from cephlab.config import LabConfig
from cephlab.errors import CommandError, ConfigError, LabError
from cephlab.lab import Lab
from cephlab.targets import target_class, why_not
from tests.conftest import ROOT
from tests.standins.cluster import FakeCluster, KubeFactory

pytest.importorskip("vagrant", reason="pip install python-vagrant")

from cephlab.k8s.vagrant_target import VagrantTarget  # noqa: E402

pytestmark = pytest.mark.standin

FAKE_VAGRANT = ROOT / "tests" / "fake_vagrant" / "vagrant"
NODES = ("k8s-1", "k8s-2", "k8s-3")
ADMIN_CONTEXT = "kubernetes-admin@kubernetes"
# records its call in the shared log, then acts as the stateful stand-in kubectl (or curl)
# (tests/standins) on the cluster state in FAKE_CLUSTER_STATE
FAKE_KUBECTL = f"""#!{sys.executable}
import json, os, sys
sys.path.insert(0, {str(ROOT)!r})
argv = sys.argv[1:]
with open(os.environ["FAKE_VAGRANT_LOG"], "a") as fh:
    fh.write(json.dumps({{"tool": os.path.basename(sys.argv[0]), "argv": argv,
                         "env": {{"KUBECONFIG": os.environ.get("KUBECONFIG", "")}}}}) + "\\n")
fail = os.environ.get("FAKE_KUBECTL_FAIL")
if fail and fail in argv:
    sys.stderr.write("fake kubectl: " + fail + " failed as requested\\n")
    sys.exit(1)
from tests.standins.tools import main
sys.exit(main(os.path.basename(sys.argv[0]), argv, os.environ["FAKE_CLUSTER_STATE"], os.devnull))
"""


#: stand-ins that answer the pre-flight's version questions as the real programs do
STAND_IN = {"VBoxManage": "#!/bin/sh\necho 7.1.4r165100\n"}


def tool_bin(tmp_path: Path, *tools: str) -> Path:
    """A directory holding the named stand-ins (vagrant and kubectl record; others are inert)."""
    bin_dir = tmp_path / f"bin-{'-'.join(tools) or 'empty'}"
    bin_dir.mkdir()
    for tool in tools:
        path = bin_dir / tool
        if tool == "vagrant":
            path.symlink_to(FAKE_VAGRANT)
            continue
        path.write_text(FAKE_KUBECTL if tool in ("kubectl", "curl") else STAND_IN.get(tool, "#!/bin/sh\nexit 0\n"))
        path.chmod(0o755)
    return bin_dir


def make_cfg(lab_dir: Path) -> LabConfig:
    return LabConfig(target="vagrant", target_reason="test", lab_dir=lab_dir)


@pytest.fixture
def tools(tmp_path, monkeypatch):
    """vagrant, kubectl and VBoxManage stand-ins first on PATH; returns a reader of the calls
    of both recording tools, in order, as (tool, argv, env)."""
    log = tmp_path / "calls.jsonl"
    bin_dir = tool_bin(tmp_path, "vagrant", "kubectl", "VBoxManage", "curl")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}"
                               f"{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("FAKE_VAGRANT_LOG", str(log))
    for var in ("FAKE_VAGRANT_FAIL", "FAKE_VAGRANT_NODES", "FAKE_VAGRANT_DIRTY", "FAKE_KUBECTL_FAIL",
                "FAKE_VAGRANT_SSH_FAIL",
                "VAGRANT_CWD", "VAGRANT_DOTFILE_PATH", "LAB_PROVIDER", "KUBECONFIG"):
        monkeypatch.delenv(var, raising=False)

    # the API the VMs' kubeadm would bring up: a stateful stand-in, reached by the target's
    # Kubernetes client (Kube, replaced here) and by the stand-in kubectl
    state = tmp_path / "cluster.json"
    cluster = FakeCluster(state, NODES)
    cluster.patch("Node", "k8s-1", None, {"spec": {"taints": [     # as kubeadm init leaves it
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}})
    monkeypatch.setenv("FAKE_CLUSTER_STATE", str(state))
    monkeypatch.setattr("cephlab.k8s.kube_target.Kube", KubeFactory(state))

    def calls() -> list[tuple[str, list[str], dict]]:
        if not log.exists():
            return []
        out = []
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            out.append((rec.get("tool", "vagrant"), rec["argv"], rec.get("env", {})))
        return out
    return calls


def new_lab(lab_dir: Path, said: list[str] | None = None) -> Lab:
    return Lab(make_cfg(lab_dir), announce=(said.append if said is not None else lambda text: None))


def flat(call) -> str:
    tool, argv, _ = call
    return " ".join([tool, *argv])


def assert_in_order(lines: list[str], wanted: list[str]) -> None:
    """Each wanted fragment occurs in some line, after the line of the fragment before."""
    pos = -1
    for fragment in wanted:
        hits = [i for i, line in enumerate(lines) if fragment in line and i > pos]
        assert hits, f"{fragment!r} not found after line {pos}:\n" + "\n".join(lines)
        pos = hits[0]


# ---------------------------------------------------------------------------- before any work
def test_target_table_maps_vagrant_to_the_engine():
    assert target_class("vagrant") is VagrantTarget


def test_without_vagrant_it_fails_at_once_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tool_bin(tmp_path)))
    target = target_class("vagrant")(make_cfg(tmp_path / "lab"), _state(tmp_path / "lab"))
    with pytest.raises(ConfigError, match=r"needs the `vagrant` executable.*`vagrant` was not found on PATH"):
        target.sanity_checks()
    assert not (tmp_path / "lab").exists()


def test_vagrant_without_a_provider_names_both_providers(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tool_bin(tmp_path, "vagrant", "kubectl")))
    monkeypatch.delenv("LAB_PROVIDER", raising=False)
    target = VagrantTarget(make_cfg(tmp_path / "lab"), _state(tmp_path / "lab"))
    with pytest.raises(ConfigError, match=r"needs a provider.*neither `VBoxManage` \(VirtualBox\) nor `virsh`"):
        target.sanity_checks()


def test_a_chosen_provider_must_be_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tool_bin(tmp_path, "vagrant", "kubectl", "VBoxManage")))
    monkeypatch.setenv("LAB_PROVIDER", "libvirt")
    target = VagrantTarget(make_cfg(tmp_path / "lab"), _state(tmp_path / "lab"))
    with pytest.raises(ConfigError, match="LAB_PROVIDER=libvirt needs `virsh`"):
        target.sanity_checks()
    monkeypatch.setenv("LAB_PROVIDER", "hyperv")
    with pytest.raises(ConfigError, match="LAB_PROVIDER='hyperv' is not a provider"):
        target.sanity_checks()


def test_missing_kubectl_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tool_bin(tmp_path, "vagrant", "virsh")))
    monkeypatch.delenv("LAB_PROVIDER", raising=False)
    target = VagrantTarget(make_cfg(tmp_path / "lab"), _state(tmp_path / "lab"))
    with pytest.raises(ConfigError, match="`kubectl`, which is not on PATH"):
        target.sanity_checks()
    assert target.provider == "libvirt"      # the installed one


def test_everything_present_passes_and_creates_nothing(tmp_path, monkeypatch):
    bin_dir = tool_bin(tmp_path, "vagrant", "kubectl", "VBoxManage", "helm", "curl")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}")
    networks = tmp_path / "networks.conf"        # VirtualBox >= 6.1.28 allows the lab's network
    networks.write_text("* 10.254.1.0/24 192.168.56.0/21\n")
    monkeypatch.setattr("cephlab.k8s.preflight.VBOX_NETWORKS_CONF", str(networks))
    monkeypatch.delenv("LAB_PROVIDER", raising=False)
    target = VagrantTarget(make_cfg(tmp_path / "lab"), _state(tmp_path / "lab"))
    target.sanity_checks()
    assert not (tmp_path / "lab").exists()


def test_harness_without_a_provider_exits_4_naming_it(tmp_path, harness_in_process):
    bin_dir = tool_bin(tmp_path, "vagrant", "kubectl")
    res = harness_in_process("--lab-target=vagrant", f"--lab-dir={tmp_path / 'lab'}", "-k", "ceph_cluster",
                      env={"PATH": f"{bin_dir}:{Path(sys.executable).parent}"})
    out = res.stdout + res.stderr
    assert res.returncode == 4, out[-2000:]
    assert "needs a provider for its VMs" in out
    assert not (tmp_path / "lab").exists()


def test_only_faults_is_skipped_and_says_it_is_local_only():
    for stage in stages.STAGES:
        reason = why_not(VagrantTarget, stage)
        if stage.slug == "faults":
            assert reason and "local target only" in reason
        else:
            assert reason is None, (stage.slug, reason)


def test_destructive_stages_are_allowed(tmp_path):
    stage = stages.get("remove_node")
    assert why_not(VagrantTarget, stage, make_cfg(tmp_path / "lab")) is None


def _state(lab_dir):
    from cephlab.state import LabState
    return LabState(lab_dir, "vagrant")


# ---------------------------------------------------------------------------- stages 01-04
def test_stages_vms_to_master_isolation_run_in_order(tmp_path, tools):
    lab_dir = tmp_path / "lab"
    repo_dotfile_existed = (ROOT / ".vagrant").exists()
    lab = new_lab(lab_dir)
    assert lab.reach("master_isolation") == ["vms", "kubernetes", "cni", "master_isolation"]
    calls = tools()
    lines = [flat(c) for c in calls]
    ssh = "vagrant ssh"
    assert_in_order(lines, [
        "vagrant up --provider=virtualbox",
        "vagrant status --machine-readable",
        *[f"{ssh} {n} --command hostname" for n in NODES],
        f"{ssh} k8s-3 --command lsblk -J -o NAME,TYPE,FSTYPE,PTTYPE /dev/sdd",
        # stage kubernetes
        f"{ssh} k8s-1 -c sudo swapoff -a",
        f"{ssh} k8s-1 -c sudo test -e /etc/kubernetes/admin.conf || sudo kubeadm init --kubernetes-version=v",
        f"{ssh} k8s-1 -c sudo kubeadm token create --print-join-command",
        f"{ssh} k8s-2 -c sudo test -e /etc/kubernetes/kubelet.conf || sudo kubeadm join 10.254.1.2:6443 --token",
        f"{ssh} k8s-3 -c sudo test -e /etc/kubernetes/kubelet.conf || sudo kubeadm join 10.254.1.2:6443 --token",
        f"{ssh} k8s-1 -c sudo cat /etc/kubernetes/admin.conf",
        "kubectl version",
        # stage cni
        "curl -fsSL --retry 5 --retry-connrefused --retry-all-errors --retry-delay 3 --max-time 120 https://",
        "kubectl --context kubernetes-admin@kubernetes apply --server-side -f -",
        "get nodes -o wide",
        # stage master_isolation: the taint is read through the API and removed
        "taint nodes k8s-1 node-role.kubernetes.io/control-plane:NoSchedule-",
    ])
    init = next(line for line in lines if "kubeadm init" in line)
    assert "--pod-network-cidr=192.168.0.0/16 --apiserver-advertise-address=10.254.1.2" in init
    assert "test -e /etc/kubernetes/admin.conf ||" in init
    # Calico's settings exist before its manifest is applied (review item 21)
    kube = lab.target.kube
    assert kube.get_json("ConfigMap", "kubernetes-services-endpoint", "kube-system")["data"][
        "IP_AUTODETECTION_METHOD"] == "kubernetes-internal-ip"
    assert [line.split()[2] for line in lines if "kubeadm join" in line] == ["k8s-2", "k8s-3"]
    assert "calico" in next(line for line in lines if line.startswith("curl ")).lower()
    for node in NODES:   # every node checked: address and both data disks
        assert any(f"ssh {node} --command ip -4 -o addr show" in line for line in lines)
        for dev in ("sdc", "sdd"):
            assert any(f"ssh {node} --command lsblk" in line and f"/dev/{dev}" in line for line in lines)

    # the kubeconfig was fetched into the lab dir, private, without CRs, and is what kubectl used
    kubeconfig = lab_dir / "kubeconfig"
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    text = kubeconfig.read_text()
    assert "server: https://10.254.1.2:6443" in text and "\r" not in text
    for tool, argv, env in calls:
        if tool == "kubectl":
            assert env["KUBECONFIG"] == str(kubeconfig.resolve()), argv
    target = lab.target
    assert Path(target.kube.kubeconfig) == kubeconfig.resolve() and target.kube.context == ADMIN_CONTEXT
    ceph_argv = target.ceph.command(["ceph", "status"])
    assert ceph_argv[:5] == ["kubectl", "--kubeconfig", str(kubeconfig.resolve()), "--context", ADMIN_CONTEXT]

    # every vagrant call is about this lab: the repository's Vagrantfile, state in the lab dir
    for tool, argv, env in calls:
        if tool == "vagrant":
            assert env.get("VAGRANT_DOTFILE_PATH") == str(lab_dir.resolve() / ".vagrant"), argv
            assert env.get("VAGRANT_CWD") == str(ROOT), argv
    assert (lab_dir / ".vagrant" / "fake-machines.json").exists()
    assert (ROOT / ".vagrant").exists() == repo_dotfile_existed
    assert lab.state.get("vagrant_provider") == "virtualbox"
    assert lab.state.applied_slugs() == ["vms", "kubernetes", "cni", "master_isolation"]

    # a second run on the same lab dir reuses it: one status read (resume), nothing else
    again = new_lab(lab_dir)
    assert again.reach("master_isolation") == []
    new = tools()[len(calls):]
    assert [flat(c) for c in new] == ["vagrant status --machine-readable"]


def test_kubernetes_stage_failure_never_shows_the_join_token(tmp_path, tools, monkeypatch):
    lab = new_lab(tmp_path / "lab")
    lab.reach("vms")
    monkeypatch.setenv("FAKE_VAGRANT_SSH_FAIL", "kubeadm join")
    with pytest.raises(CommandError) as err:
        lab.reach("kubernetes")
    text = str(err.value)
    assert "remote command failed" in text and "kubeadm join 10.254.1.2:6443" in text
    assert "--token ***" in text and "placeholder.notarealtoken0" not in text
    assert not lab.state.applied("kubernetes")


def test_vms_stage_fails_naming_a_disk_that_is_not_empty(tmp_path, tools, monkeypatch):
    monkeypatch.setenv("FAKE_VAGRANT_DIRTY", "k8s-2:sdd")
    lab = new_lab(tmp_path / "lab")
    with pytest.raises(LabError, match=r"stage vms: .*k8s-2: /dev/sdd is not empty: fstype xfs"):
        lab.reach("vms")
    assert not lab.state.applied("vms")


def test_vms_stage_fails_when_vagrant_up_fails(tmp_path, tools, monkeypatch):
    monkeypatch.setenv("FAKE_VAGRANT_FAIL", "up")
    with pytest.raises(LabError, match=r"vagrant command failed \(exit 1\): .*up"):
        new_lab(tmp_path / "lab").reach("vms")


# ---------------------------------------------------------------------------- kept labs
def _vagrant(lab_dir: Path, *args: str) -> None:
    """Act on the lab's machines behind the harness's back (as a user or a reboot would)."""
    env = dict(os.environ, VAGRANT_CWD=str(ROOT), VAGRANT_DOTFILE_PATH=str(lab_dir.resolve() / ".vagrant"),
               FAKE_VAGRANT_LOG=os.devnull)
    subprocess.run([str(FAKE_VAGRANT), *args], env=env, check=True, capture_output=True)


def test_resume_brings_up_a_stopped_vm_without_provisioning(tmp_path, tools):
    lab_dir = tmp_path / "lab"
    new_lab(lab_dir).reach("vms")
    _vagrant(lab_dir, "halt", "k8s-2")
    before = len(tools())
    said: list[str] = []
    lab = new_lab(lab_dir, said)
    lab.resume()
    new = [flat(c) for c in tools()[before:]]
    assert new == ["vagrant status --machine-readable",
                   "vagrant up k8s-2 --no-provision --provider=virtualbox"]
    assert said == ["kept lab was not running: started 1: VM k8s-2 (was poweroff)"]
    assert lab.target.vagrant.running()


def test_resume_of_a_lab_that_lost_a_machine_says_so(tmp_path, tools):
    lab_dir = tmp_path / "lab"
    new_lab(lab_dir).reach("vms")
    _vagrant(lab_dir, "destroy", "k8s-3")
    with pytest.raises(LabError, match="has lost machine\\(s\\) k8s-3 \\(not created\\)"):
        new_lab(lab_dir).resume()


def test_resume_before_stage_vms_runs_nothing(tmp_path, tools):
    lab = new_lab(tmp_path / "lab")
    lab.resume()
    assert tools() == []


# ---------------------------------------------------------------------------- teardown
def test_destroy_removes_this_labs_machines_and_dir_only(tmp_path, tools):
    lab_a, lab_b = tmp_path / "lab-a", tmp_path / "lab-b"
    new_lab(lab_a).reach("vms")
    new_lab(lab_b).reach("vms")
    neighbour = tmp_path / "keep-me.txt"
    neighbour.write_text("not the lab's")
    before = len(tools())
    lab = new_lab(lab_a)
    destroyed = lab.destroy()
    new = tools()[before:]
    assert [flat(c) for c in new] == ["vagrant status --machine-readable", "vagrant destroy --force"]
    assert all(env["VAGRANT_DOTFILE_PATH"] == str(lab_a.resolve() / ".vagrant") for _, _, env in new)
    assert destroyed == [f"VM {n}" for n in NODES]
    assert not lab_a.exists()
    assert neighbour.read_text() == "not the lab's"
    assert new_lab(lab_b).target.vagrant.running()    # the other lab's machines still run


def test_destroy_of_a_lab_without_machines_calls_no_vagrant(tmp_path, tools):
    lab_dir = tmp_path / "lab"
    lab = new_lab(lab_dir)
    lab.state.put("vagrant_provider", "virtualbox")   # a lab whose stage vms never ran
    assert lab.destroy() == []
    assert tools() == [] and not lab_dir.exists()
