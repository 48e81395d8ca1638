"""The python-vagrant layer (cephlab.k8s.vagrant) driven against tests/fake_vagrant/vagrant."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

pytest.importorskip("vagrant", reason="pip install python-vagrant")
from cephlab.errors import LabError  # noqa: E402
from cephlab.k8s.vagrant import VagrantError, VagrantLab  # noqa: E402

pytestmark = pytest.mark.standin

FAKE_DIR = REPO / "tests" / "fake_vagrant"


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Put the fake vagrant first on PATH; return a reader of its recorded calls."""
    log = tmp_path / "vagrant-calls.jsonl"
    monkeypatch.setenv("PATH", f"{FAKE_DIR}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_VAGRANT_LOG", str(log))
    for var in ("FAKE_VAGRANT_FAIL", "FAKE_VAGRANT_NODES", "VAGRANT_CWD"):
        monkeypatch.delenv(var, raising=False)

    def calls():
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]
    return calls


@pytest.fixture
def lab_root(tmp_path):
    root = tmp_path / "lab"
    root.mkdir()
    (root / "Vagrantfile").write_text((REPO / "Vagrantfile").read_text())
    return root


def test_fake_is_executable():
    assert os.access(FAKE_DIR / "vagrant", os.X_OK)


def test_lifecycle_records_the_expected_calls(fake, lab_root):
    lab = VagrantLab(lab_root)
    assert lab.status() == {"k8s-1": "not_created", "k8s-2": "not_created", "k8s-3": "not_created"}
    assert not lab.running()
    lab.up(provider="libvirt")
    assert lab.running()
    assert lab.ssh("k8s-2", "hostname") == "k8s-2\n"
    lab.destroy("k8s-3")
    assert lab.status()["k8s-3"] == "not_created"
    lab.destroy()
    argvs = [c["argv"] for c in fake()]
    assert argvs == [
        ["status", "--machine-readable"],
        ["status", "--machine-readable"],
        ["up", "--provider=libvirt"],
        ["status", "--machine-readable"],
        ["ssh", "k8s-2", "--command", "hostname"],
        ["destroy", "k8s-3", "--force"],
        ["status", "--machine-readable"],
        ["destroy", "--force"],
    ]
    assert {c["cwd"] for c in fake()} == {str(lab_root)}


def test_up_one_node_without_provisioning(fake, lab_root):
    VagrantLab(lab_root).up("k8s-1", provision=False)
    assert fake()[-1]["argv"] == ["up", "k8s-1", "--no-provision"]


def test_settings_reach_the_vagrantfile_environment(fake, lab_root):
    lab = VagrantLab(lab_root, settings={"LAB_CPUS": 4, "LAB_MEMORY": "8192"})
    lab.up()
    assert fake()[-1]["env"]["LAB_CPUS"] == "4"
    assert fake()[-1]["env"]["LAB_MEMORY"] == "8192"
    with pytest.raises(ValueError, match="LAB_RAM"):
        VagrantLab(lab_root, settings={"LAB_RAM": "1"})


def test_failure_names_the_command_and_keeps_stderr(fake, lab_root, monkeypatch):
    monkeypatch.setenv("FAKE_VAGRANT_FAIL", "up")
    lab = VagrantLab(lab_root)
    with pytest.raises(VagrantError) as info:
        lab.up("k8s-1")
    err = info.value
    assert isinstance(err, LabError)
    assert err.rc == 1 and err.argv[-2:] == ["up", "k8s-1"]
    assert "vagrant command failed (exit 1):" in str(err) and "up k8s-1" in str(err)
    assert "failed as requested" in err.stderr
    monkeypatch.delenv("FAKE_VAGRANT_FAIL")
    assert lab.status()["k8s-1"] == "not_created"   # other commands still work
    lab = VagrantLab(lab_root)            # the environment is read when the lab is created
    lab.up("k8s-1")
    assert lab.status()["k8s-1"] == "running"


def test_ssh_to_a_stopped_machine_fails_with_the_command(fake, lab_root):
    with pytest.raises(VagrantError, match=r"ssh k8s-1 --command uptime[\s\S]*VM must be running"):
        VagrantLab(lab_root).ssh("k8s-1", "uptime")


def test_unknown_node_is_refused_before_running_anything(fake, lab_root):
    with pytest.raises(ValueError, match="k8s-9"):
        VagrantLab(lab_root).ssh("k8s-9", "true")
    assert fake() == []


def test_missing_executable(fake, lab_root, monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(VagrantError, match=r"could not run\): vagrant status --machine-readable"):
        VagrantLab(lab_root).status()


def test_missing_vagrantfile(tmp_path):
    with pytest.raises(VagrantError, match="no Vagrantfile"):
        VagrantLab(tmp_path)


# ---------------------------------------------------------------------------- what vagrant refuses
def test_up_refuses_a_vagrantfile_that_aborts(fake, lab_root):
    """A bad setting stops `vagrant up` before any machine exists (the stand-in evaluates the
    Vagrantfile with ruby, as Vagrant loads it)."""
    if not shutil.which("ruby"):
        pytest.skip("ruby not installed")
    lab = VagrantLab(lab_root, settings={"LAB_FIRMWARE": "uefi"})
    with pytest.raises(VagrantError, match=r"error loading a Vagrantfile[\s\S]*LAB_FIRMWARE must be bios or efi"):
        lab.up()
    assert lab.status()["k8s-1"] == "not_created"


def test_up_on_virtualbox_refuses_the_lab_network_outside_networks_conf(fake, lab_root, monkeypatch, tmp_path):
    """VirtualBox >= 6.1.28 on Linux: Vagrant refuses host-only addresses outside
    /etc/vbox/networks.conf (192.168.56.0/21 without the file) before creating a VM."""
    if not shutil.which("ruby"):
        pytest.skip("ruby not installed")
    conf = tmp_path / "networks.conf"
    monkeypatch.setenv("FAKE_VBOX_VERSION", "7.1.4r165100")
    monkeypatch.setenv("FAKE_VBOX_NETWORKS_CONF", str(conf))
    lab = VagrantLab(lab_root)
    with pytest.raises(VagrantError, match=r"not within the\s+allowed ranges[\s\S]*Address: 10\.254\.1\.2"
                                           r"[\s\S]*Ranges: 192\.168\.56\.0/21"):
        lab.up(provider="virtualbox")
    VagrantLab(lab_root).up(provider="libvirt")        # libvirt has no such rule
    VagrantLab(lab_root).destroy()
    conf.write_text("* 10.254.1.0/24 192.168.56.0/21\n")
    lab = VagrantLab(lab_root)
    lab.up(provider="virtualbox")
    assert lab.running()
    monkeypatch.setenv("FAKE_VBOX_VERSION", "6.1.26r145957")       # before the restriction
    conf.unlink()
    VagrantLab(lab_root).up(provider="virtualbox")


def test_plugin_list(fake, lab_root):
    out = subprocess.run(["vagrant", "plugin", "list"], capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "vagrant-libvirt"


@pytest.mark.parametrize("vagrant,vbox", [
    ("2.4.1", "7.1.4r1"), ("2.4.2", "7.1.4r1"), ("2.4.8", "7.2.2r1"), ("2.4.9", "7.2.2r1"),
    ("2.3.1", "7.0.20r1"), ("2.3.4", "7.0.20r1"), ("2.4.9", "7.3.0r1"), ("2.4.9", "6.1.50r1")])
def test_preflight_and_vagrant_agree_on_virtualbox_versions(fake, lab_root, monkeypatch, tmp_path, vagrant, vbox):
    """The pre-flight refuses exactly the Vagrant x VirtualBox pairs that `vagrant up` refuses."""
    from cephlab.k8s import preflight
    if not shutil.which("ruby"):
        pytest.skip("ruby not installed")
    conf = tmp_path / "networks.conf"
    conf.write_text("* 10.254.1.0/24\n")
    monkeypatch.setenv("FAKE_VAGRANT_VERSION", vagrant)
    monkeypatch.setenv("FAKE_VBOX_VERSION", vbox)
    monkeypatch.setenv("FAKE_VBOX_NETWORKS_CONF", str(conf))
    refused = bool(preflight.virtualbox_problems(f"Vagrant {vagrant}", vbox))
    try:
        VagrantLab(lab_root).up(provider="virtualbox")
        up_refused = False
    except VagrantError as err:
        assert "not supported by this version of Vagrant" in err.stderr
        up_refused = True
    assert refused == up_refused


@pytest.mark.parametrize("plugins", ["vagrant-libvirt (0.11.2, system)", "No plugins installed."])
def test_preflight_and_vagrant_agree_on_the_libvirt_plugin(fake, lab_root, monkeypatch, plugins):
    from cephlab.k8s import preflight
    monkeypatch.setenv("FAKE_VAGRANT_PLUGINS", plugins)
    listed = subprocess.run(["vagrant", "plugin", "list"], capture_output=True, text=True).stdout
    refused = bool(preflight.libvirt_plugin_problems(listed))
    try:
        VagrantLab(lab_root).up(provider="libvirt")
        up_refused = False
    except VagrantError as err:
        assert "The provider 'libvirt' could not be found" in err.stderr
        up_refused = True
    assert refused == up_refused
