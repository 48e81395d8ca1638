"""The host checks of the vagrant and cluster targets (cephlab.k8s.preflight), fed with what
the programs print and what the files hold; and the call from the targets' sanity checks."""

from __future__ import annotations

import pytest

from cephlab.errors import ConfigError
from cephlab.k8s import preflight as pf

pytestmark = pytest.mark.unit

ALL = {"vagrant", "VBoxManage", "virsh", "kubectl", "helm", "curl"}
ALLOWED = "* 10.254.1.0/24 192.168.56.0/21\n"


def which_of(present):
    return lambda name: f"/usr/bin/{name}" if name in present else None


def runner(answers):
    """A stand-in for running a program: its printout by argv, None (cannot run) otherwise."""
    calls = []

    def run(argv):
        calls.append(" ".join(argv))
        return answers.get(" ".join(argv))
    run.calls = calls
    return run


def problems(provider="virtualbox", present=ALL, answers=None, conf=ALLOWED, platform="linux",
             env=None, files=()):
    answers = {"vagrant --version": "Vagrant 2.4.9", "VBoxManage --version": "7.1.4r165100",
               "vagrant plugin list": "vagrant-libvirt (0.12.2, global)\n", **(answers or {})}
    return pf.vagrant_host_problems(provider, which=which_of(present), run=runner(answers),
                                    read=lambda path: conf, platform=platform, env=env or {},
                                    exists=lambda path: path in files)


# ---------------------------------------------------------------------------- versions
@pytest.mark.parametrize("text,version", [
    ("Vagrant 2.4.3", (2, 4, 3)), ("7.1.4r165100", (7, 1, 4)), ("7.0", (7, 0)),
    ("", None), (None, None), ("WARNING: The vboxdrv kernel module is not loaded.", None)])
def test_parse_version(text, version):
    assert pf.parse_version(text) == version


def test_virtualbox_version_ignores_warnings_naming_the_kernel():
    text = ("WARNING: The vboxdrv kernel module is not loaded. Either there is no module\n"
            "         available for the current kernel (6.8.0-31-generic) or it failed to\n"
            "         load. Please recompile the kernel module and install it by\n")
    assert pf.parse_vbox_version(text) is None
    assert pf.parse_vbox_version(text + "7.1.4r165100\n") == (7, 1, 4)
    (found,) = pf.virtualbox_problems("Vagrant 2.4.9", text)
    assert "cannot tell VirtualBox's version" in found


@pytest.mark.parametrize("vagrant,vbox,fragment", [
    ("Vagrant 2.4.1", "7.1.4r165100",
     "Vagrant 2.4.1 does not drive VirtualBox 7.1.4 (its provider knows VirtualBox 7.1 from Vagrant 2.4.2)"),
    ("Vagrant 2.4.8", "7.2.2r170484", "install Vagrant 2.4.9 or newer"),
    ("Vagrant 2.3.1", "7.0.20r163906", "from Vagrant 2.3.2"),
    ("Vagrant 2.4.9", "7.3.0r1", "newer than any VirtualBox Vagrant 2.4.9 drives (up to 7.2)"),
    ("Vagrant 2.4.9", "6.0.24r139119", "too old for the lab"),
    ("Vagrant 2.4.9", "WARNING: The vboxdrv kernel module is not loaded", "cannot tell VirtualBox's version"),
    ("", "7.1.4r1", "cannot tell Vagrant's version"),
])
def test_vagrant_and_virtualbox_that_do_not_match_are_named(vagrant, vbox, fragment):
    found = pf.virtualbox_problems(vagrant, vbox)
    assert len(found) == 1 and fragment in found[0], found


@pytest.mark.parametrize("vagrant,vbox", [
    ("Vagrant 2.4.2", "7.1.0r1"), ("Vagrant 2.4.9", "7.2.4r1"), ("Vagrant 2.3.4", "7.0.20r1"),
    ("Vagrant 2.5.0", "7.3.0r1"),          # a Vagrant newer than the table may know more
])
def test_matching_vagrant_and_virtualbox_pass(vagrant, vbox):
    assert pf.virtualbox_problems(vagrant, vbox) == []


# ---------------------------------------------------------------------------- networks.conf
def test_default_ranges_refuse_the_lab_network_on_linux():
    (found,) = pf.hostonly_problems("7.1.4r1", "linux", None)
    assert "there is no /etc/vbox/networks.conf" in found and "192.168.56.0/21" in found
    assert "`* 10.254.1.0/24`" in found


@pytest.mark.parametrize("conf", ["* 192.168.56.0/21\n", "# * 10.254.1.0/24\n", "* 10.254.1.0/25\n",
                                  "10.254.1.0/24\n", ""])
def test_a_networks_conf_without_the_lab_network_is_refused(conf):
    (found,) = pf.hostonly_problems("6.1.28r1", "linux", conf)
    assert "networks.conf allows" in found


@pytest.mark.parametrize("conf", ["* 10.254.1.0/24\n", "* 10.0.0.0/8 192.168.56.0/21\n",
                                  "  * 192.168.56.0/21   10.254.0.0/16 \n", "*  0.0.0.0/0 ::/0\n"])
def test_networks_conf_that_covers_the_lab_network_passes(conf):
    assert pf.hostonly_problems("7.1.4r1", "linux", conf) == []


@pytest.mark.parametrize("vbox,platform", [("6.1.26r1", "linux"), ("7.1.4r1", "darwin"),
                                           ("7.1.4r1", "win32")])
def test_no_restriction_before_6_1_28_on_windows_or_on_macos_from_7_0(vbox, platform):
    assert pf.hostonly_problems(vbox, platform, None) == []


def test_macos_before_7_0_is_restricted():
    assert pf.hostonly_problems("6.1.30r1", "darwin", None)


# ---------------------------------------------------------------------------- the whole host
def test_a_fitting_virtualbox_host_passes():
    assert problems() == []


def test_every_missing_tool_is_named_with_how_to_get_it():
    found = problems(present={"vagrant", "VBoxManage"})
    text = "\n".join(found)
    assert len(found) == 3
    for tool, how in (("kubectl", "kubernetes.io/docs/tasks/tools"), ("helm", "Helm 3"),
                      ("curl", "apt-get install curl")):
        assert f"`{tool}` is not on PATH" in text and how in text


def test_missing_vagrant_and_provider_are_named():
    text = "\n".join(problems(present={"kubectl", "helm", "curl"}))
    assert "`vagrant` is not on PATH" in text and "`VBoxManage` is not on PATH" in text
    text = "\n".join(problems("libvirt", present={"vagrant", "kubectl", "helm", "curl"}))
    assert "`virsh` is not on PATH" in text and "vagrant-libvirt" in text


def test_virtualbox_host_problems_add_up():
    found = problems(answers={"vagrant --version": "Vagrant 2.4.1"}, conf=None)
    assert len(found) == 2
    assert "does not drive VirtualBox 7.1.4" in found[0] and "networks.conf" in found[1]


def test_libvirt_needs_the_plugin_and_no_virtualbox_checks():
    assert problems("libvirt", conf=None) == []       # networks.conf is VirtualBox's
    (found,) = problems("libvirt", answers={"vagrant plugin list": "No plugins installed."})
    assert "vagrant plugin install vagrant-libvirt" in found


def test_efi_on_libvirt_needs_ovmf():
    (found,) = problems("libvirt", env={"LAB_FIRMWARE": "efi"})
    assert "no OVMF firmware was found" in found and "apt-get install ovmf" in found
    assert problems("libvirt", env={"LAB_FIRMWARE": "efi"},
                    files={"/usr/share/OVMF/OVMF_CODE_4M.fd"}) == []
    (found,) = problems("libvirt", env={"LAB_FIRMWARE": "efi", "LAB_OVMF_CODE": "/opt/x.fd"},
                        files={"/usr/share/OVMF/OVMF_CODE_4M.fd"})
    assert "LAB_OVMF_CODE=/opt/x.fd does not exist" in found
    assert problems("virtualbox", env={"LAB_FIRMWARE": "efi"}) == []   # the box's OVF carries it
    (found,) = problems(env={"LAB_FIRMWARE": "uefi"})
    assert "neither bios nor efi" in found


def test_unknown_provider():
    (found,) = problems("hyperv")
    assert "unknown provider 'hyperv'" in found


def test_check_vagrant_host_raises_one_error_listing_all(monkeypatch):
    with pytest.raises(ConfigError) as err:
        pf.check_vagrant_host("virtualbox", which=which_of({"vagrant", "VBoxManage", "kubectl"}),
                              run=runner({"vagrant --version": "Vagrant 2.4.9",
                                          "VBoxManage --version": "7.2.4r1"}),
                              read=lambda path: None, platform="linux", env={})
    text = str(err.value)
    assert text.startswith("the vagrant target cannot start; fix this first:")
    assert text.count("\n  - ") == 3 and "`helm`" in text and "`curl`" in text and "networks.conf" in text


def test_check_cluster_host_names_helm_and_curl():
    with pytest.raises(ConfigError, match=r"the cluster target cannot start[\s\S]*`helm` is not on PATH"):
        pf.check_cluster_host(which=which_of({"kubectl", "curl"}))
    pf.check_cluster_host(which=which_of({"kubectl", "helm", "curl"}))


def test_the_vagrant_target_runs_the_preflight(tmp_path, monkeypatch):
    """The target's sanity checks end with the pre-flight: a host with everything but an
    allowing networks.conf is refused before any work."""
    pytest.importorskip("vagrant", reason="pip install python-vagrant")
    import shutil

    from cephlab.config import LabConfig
    from cephlab.k8s.vagrant_target import VagrantTarget
    from cephlab.state import LabState

    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}" if name in ALL else real_which(name))
    monkeypatch.setattr(pf, "_run", runner({"vagrant --version": "Vagrant 2.4.9",
                                            "VBoxManage --version": "7.1.4r1"}))
    monkeypatch.setattr(pf, "VBOX_NETWORKS_CONF", str(tmp_path / "absent.conf"))
    monkeypatch.setenv("LAB_PROVIDER", "virtualbox")
    cfg = LabConfig(target="vagrant", target_reason="test", lab_dir=tmp_path / "lab")
    target = VagrantTarget(cfg, LabState(cfg.lab_dir, "vagrant"))
    with pytest.raises(ConfigError, match=r"10\.254\.1\.0/24"):
        target.sanity_checks()
    (tmp_path / "allow.conf").write_text(ALLOWED)
    monkeypatch.setattr(pf, "VBOX_NETWORKS_CONF", str(tmp_path / "allow.conf"))
    target.sanity_checks()
    assert not (tmp_path / "lab").exists()
