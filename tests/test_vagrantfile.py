"""The Vagrantfile against what upstream needs: the pinned box and its disk controller, the EFI
loader for libvirt, libvirt's management network off the pod network, containerd's systemd
cgroups on containerd 1.x and 2.x. Checked by evaluating it with ruby, by `vagrant validate`
(Debian's vagrant 2.3 + vagrant-libvirt, when installed), and by running the containerd part
of the provisioning script against a stand-in ``containerd``."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cephlab import model
from cephlab import versions
from tests.conftest import ROOT

pytestmark = pytest.mark.standin

VAGRANTFILE = ROOT / "Vagrantfile"
EVALUATE = ROOT / "tests" / "fake_vagrant" / "evaluate.rb"
SAMPLES = ROOT / "tests" / "data" / "containerd"
RUNC_OPTIONS = {2: ("plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes", "runc", "options"),
                3: ("plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes", "runc", "options")}


def evaluate(tmp_path: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    ruby = shutil.which("ruby")
    if ruby is None:
        pytest.skip("ruby not installed: cannot evaluate the Vagrantfile")
    copy = tmp_path / "Vagrantfile"
    copy.write_text(VAGRANTFILE.read_text())
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LAB_", "VAGRANT_"))}
    base["VAGRANT_HOME"] = str(tmp_path / "vagrant-home")      # no box downloaded, unless a test puts one
    return subprocess.run([ruby, str(EVALUATE), str(copy)], capture_output=True, text=True,
                          env={**base, **(env or {})})


def config(tmp_path: Path, env: dict | None = None) -> dict:
    res = evaluate(tmp_path, env)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def providers(conf: dict, node: str = "k8s-1") -> tuple[dict, dict]:
    p = conf["vm"]["define"][node]["vm"]["provider"]
    return p["virtualbox"], p["libvirt"]


def vb_commands(vb: dict, verb: str) -> list[list]:
    return [c["args"][0] for c in vb.get("customize", []) if c["args"][0][0] == verb]


# ---------------------------------------------------------------------------- the box
def test_box_version_is_pinned_in_one_place_and_mirrored():
    text = VAGRANTFILE.read_text()
    (version,) = re.findall(r'^DEFAULT_BOX_VERSION = "([^"]+)"', text, re.M)
    assert version == versions.UBUNTU_BOX_VERSION
    assert re.fullmatch(r"\d{6}\.\d{2}\.\d+", version), "bento versions are YYYYMM.DD.N"


def test_default_box_is_the_pinned_version_with_its_sata_controller(tmp_path):
    conf = config(tmp_path)
    assert (conf["vm"]["box"], conf["vm"]["box_version"]) == (versions.UBUNTU_BOX, versions.UBUNTU_BOX_VERSION)
    for node in model.NODES:
        vb, lv = providers(conf, node)
        (ctl,) = vb_commands(vb, "storagectl")
        assert ctl[ctl.index("--name") + 1] == "SATA Controller"
        attach = vb_commands(vb, "storageattach")
        assert [a[a.index("--storagectl") + 1] for a in attach] == ["SATA Controller"] * 3
        assert [a[a.index("--port") + 1] for a in attach] == [1, 2, 3]      # sdb, sdc, sdd after sda
        assert not vb_commands(vb, "modifyvm") and "loader" not in lv   # the pinned box boots BIOS


def test_another_box_takes_its_newest_version(tmp_path):
    conf = config(tmp_path, {"LAB_BOX": "example/box"})
    assert conf["vm"]["box"] == "example/box" and "box_version" not in conf["vm"]
    conf = config(tmp_path, {"LAB_BOX_VERSION": "202602.01.0"})
    assert conf["vm"]["box_version"] == "202602.01.0"


def _box_ovf(home: Path, version: str, controller: str, arch: str | None = "amd64") -> None:
    """A downloaded bento box as Vagrant 2.4 stores it (arch directory) or 2.3 (none)."""
    parts = [home, "boxes", "bento-VAGRANTSLASH-ubuntu-24.04", version] + ([arch] if arch else []) + ["virtualbox"]
    box = Path(*parts)
    box.mkdir(parents=True)
    (box / "box.ovf").write_text(
        '<vbox:Machine><StorageControllers>\n'
        '<StorageController name="IDE Controller" type="PIIX4" PortCount="2"/>\n'
        f'<StorageController name="{controller}" type="VirtioSCSI" PortCount="1"/>\n'
        '</StorageControllers></vbox:Machine>\n')


@pytest.mark.parametrize("arch", ["amd64", None])
def test_a_downloaded_box_names_its_controller(tmp_path, arch):
    """A newer bento box (EFI, VirtIO) is handled: the data disks join the controller its
    box.ovf names."""
    _box_ovf(tmp_path / "vagrant-home", "202602.01.0", "VirtIO Controller", arch)
    conf = config(tmp_path, {"LAB_BOX_VERSION": "202602.01.0"})
    vb, _ = providers(conf)
    assert {a[a.index("--storagectl") + 1] for a in vb_commands(vb, "storageattach")} == {"VirtIO Controller"}
    (ctl,) = vb_commands(vb, "storagectl")
    assert ctl[ctl.index("--name") + 1] == "VirtIO Controller"
    # an explicit name wins
    conf = config(tmp_path, {"LAB_BOX_VERSION": "202602.01.0", "LAB_VB_CONTROLLER": "SCSI"})
    vb, _ = providers(conf)
    assert {a[a.index("--storagectl") + 1] for a in vb_commands(vb, "storageattach")} == {"SCSI"}


def test_efi_sets_the_libvirt_loader_and_virtualbox_firmware(tmp_path):
    loader = tmp_path / "OVMF_CODE_4M.fd"
    loader.write_bytes(b"\0")
    conf = config(tmp_path, {"LAB_FIRMWARE": "efi", "LAB_OVMF_CODE": str(loader)})
    vb, lv = providers(conf)
    assert lv["loader"] == str(loader)
    assert vb_commands(vb, "modifyvm") == [["modifyvm", "id", "--firmware", "efi"]]


def test_bad_firmware_is_refused(tmp_path):
    res = evaluate(tmp_path, {"LAB_FIRMWARE": "uefi"})
    assert res.returncode != 0 and 'LAB_FIRMWARE must be bios or efi, got "uefi"' in res.stderr


# ---------------------------------------------------------------------------- libvirt network
def test_libvirt_management_network_is_off_the_pod_and_service_networks(tmp_path):
    conf = config(tmp_path)
    for node in model.NODES:
        _, lv = providers(conf, node)
        net = ipaddress.ip_network(lv["management_network_address"])
        assert lv["management_network_name"] != "vagrant-libvirt"   # never re-address the default one
        for taken in (model.POD_CIDR, f"{model.SUBNET}.0/24", "10.96.0.0/12", "192.168.121.0/24"):
            assert not net.overlaps(ipaddress.ip_network(taken)), (net, taken)


# ---------------------------------------------------------------------------- vagrant validate
def _validate(tmp_path: Path, env: dict | None = None, text: str | None = None) -> subprocess.CompletedProcess:
    vagrant = shutil.which("vagrant")
    if vagrant is None or "fake_vagrant" in vagrant:
        pytest.skip("vagrant not installed (apt-get install vagrant vagrant-libvirt)")
    work = tmp_path / "validate"
    work.mkdir(exist_ok=True)
    (work / "Vagrantfile").write_text(text or VAGRANTFILE.read_text())
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LAB_", "VAGRANT_"))}
    base.update(VAGRANT_HOME=str(tmp_path / "vagrant-home"), VAGRANT_CHECKPOINT_DISABLE="1")
    return subprocess.run([vagrant, "validate"], cwd=work, capture_output=True, text=True,
                          env={**base, **(env or {})}, timeout=300)


def test_real_vagrant_validates_the_vagrantfile(tmp_path):
    """Vagrant itself loads the Vagrantfile and validates the provider settings it can use
    (vagrant-libvirt's: management network, loader, disks); unknown settings fail here."""
    res = _validate(tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    loader = tmp_path / "OVMF_CODE.fd"
    loader.write_bytes(b"\0")
    res = _validate(tmp_path, {"LAB_FIRMWARE": "efi", "LAB_OVMF_CODE": str(loader), "LAB_NODES": "4"})
    assert res.returncode == 0, res.stdout + res.stderr


def test_real_vagrant_refuses_a_bad_setting(tmp_path):
    res = _validate(tmp_path, {"LAB_FIRMWARE": "uefi"})
    assert res.returncode != 0 and "LAB_FIRMWARE must be bios or efi" in res.stdout + res.stderr
    # and the validation of libvirt's settings is real: a misspelt one fails it
    text = VAGRANTFILE.read_text().replace("lv.management_network_address =",
                                           "lv.management_network_adress =")
    res = _validate(tmp_path, text=text)
    assert res.returncode != 0 and "management_network_adress" in res.stdout + res.stderr


# ---------------------------------------------------------------------------- containerd
FAKE_CONTAINERD = f"""#!{sys.executable}
# containerd stand-in: `config default` prints the sample of FAKE_CONTAINERD_SAMPLE; `config
# dump` loads $CONTAINERD_CONFIG and, like containerd, refuses a file that is not TOML.
import os, sys, tomllib
args = sys.argv[1:]
if args == ["config", "default"]:
    sys.stdout.write(open(os.environ["FAKE_CONTAINERD_SAMPLE"]).read())
elif args == ["config", "dump"]:
    text = open(os.environ["CONTAINERD_CONFIG"]).read()
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        sys.exit(f"containerd: failed to load TOML from {{os.environ['CONTAINERD_CONFIG']}}: {{exc}}")
    sys.stdout.write(os.environ.get("FAKE_CONTAINERD_DUMP") or text)
else:
    sys.exit("fake containerd: unexpected " + " ".join(args))
"""


def containerd_part() -> str:
    text = VAGRANTFILE.read_text()
    start, end = text.index("# >>> containerd"), text.index("# <<< containerd")
    return text[start:end]


def run_containerd_part(tmp_path: Path, sample: str, script: str | None = None, dump: str = ""):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "containerd").write_text(FAKE_CONTAINERD)
    (bin_dir / "systemctl").write_text("#!/bin/sh\nexit 0\n")
    for tool in ("containerd", "systemctl"):
        (bin_dir / tool).chmod(0o755)
    config_path = tmp_path / "etc" / "containerd" / "config.toml"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "CONTAINERD_CONFIG": str(config_path),
           "FAKE_CONTAINERD_SAMPLE": str(SAMPLES / f"config-default-{sample}.toml"),
           "FAKE_CONTAINERD_DUMP": dump}
    res = subprocess.run(["bash", "-euo", "pipefail", "-c", script or containerd_part()],
                         capture_output=True, text=True, env=env)
    return res, config_path


def _runc_options(doc: dict) -> dict:
    node = doc
    for key in RUNC_OPTIONS[doc["version"]]:
        node = node[key]
    return node


@pytest.mark.parametrize("sample", ["1.7", "2.0", "2.2"])
def test_containerd_gets_systemd_cgroups_on_1x_and_2x(tmp_path, sample):
    res, path = run_containerd_part(tmp_path, sample)
    assert res.returncode == 0, res.stdout + res.stderr
    text = path.read_text()
    doc = tomllib.loads(text)                       # still TOML: no table written twice
    assert _runc_options(doc)["SystemdCgroup"] is True
    assert text.count("SystemdCgroup") == 1
    default = tomllib.loads((SAMPLES / f"config-default-{sample}.toml").read_text())
    options = {k: v for k, v in _runc_options(doc).items() if k != "SystemdCgroup"}
    assert options == {k: v for k, v in _runc_options(default).items() if k != "SystemdCgroup"}


def test_the_old_edit_left_containerd_2_0_on_cgroupfs(tmp_path):
    """Why the provisioning changed: `sed s/SystemdCgroup = false/.../` finds nothing to
    change in containerd 2.0's default config."""
    old = ('mkdir -p "$(dirname "$CONTAINERD_CONFIG")"; containerd config default > "$CONTAINERD_CONFIG"\n'
           "sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' \"$CONTAINERD_CONFIG\"\n")
    res, path = run_containerd_part(tmp_path, "2.0", script=old)
    assert res.returncode == 0
    assert "SystemdCgroup" not in _runc_options(tomllib.loads(path.read_text()))


def test_provisioning_fails_when_containerd_does_not_load_the_setting(tmp_path):
    """The check reads `containerd config dump`, not the file: a containerd that loads the
    default (cgroupfs) stops the provisioning, naming the table."""
    dump = (SAMPLES / "config-default-2.2.toml").read_text()
    res, _ = run_containerd_part(tmp_path, "2.2", dump=dump)
    assert res.returncode == 1
    assert "containerd does not load SystemdCgroup = true in [plugins.'io.containerd.cri.v1.runtime'" in res.stdout
    # the setting under containerd 1.x's table name does not count on containerd 2.x
    wrong = dump.replace("SystemdCgroup = false", "").replace(
        "[plugins]", "[plugins]\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n"
                     "  SystemdCgroup = true\n", 1)
    res, _ = run_containerd_part(tmp_path, "2.2", dump=wrong)
    assert res.returncode == 1, res.stdout


def test_provisioning_script_is_valid_bash():
    text = VAGRANTFILE.read_text()
    script = text.split("PROVISION = <<~'SHELL'\n", 1)[1].split("\nSHELL\n", 1)[0]
    res = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
