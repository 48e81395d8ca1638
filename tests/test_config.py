"""Bad input is refused with a clear message before any work starts."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from cephlab.config import check_lab_dir, resolve_target
from cephlab.errors import ConfigError
from tests.conftest import TEST_CEPH, ceph_unavailable, loopback_prefix

pytestmark = pytest.mark.standin

BUSY = loopback_prefix("config-busy")


def fake_which(present):
    return lambda name: f"/usr/bin/{name}" if name in present else None


@pytest.mark.parametrize("present, target, why", [
    (set(), "local", "vagrant is not installed"),
    ({"vagrant"}, "local", "no provider"),
    ({"vagrant", "VBoxManage"}, "vagrant", "virtualbox provider"),
    ({"vagrant", "virsh"}, "vagrant", "libvirt provider"),
])
def test_auto_target(present, target, why):
    chosen, reason = resolve_target("auto", which=fake_which(present))
    assert chosen == target and why in reason


def test_explicit_and_unknown_targets():
    assert resolve_target("LOCAL") == ("local", "chosen explicitly")
    with pytest.raises(ConfigError,
                       match="unknown lab target 'kvm'; choose one of: local, vagrant, cluster, nodes, auto"):
        resolve_target("kvm")
    assert resolve_target("nodes") == ("nodes", "chosen explicitly")


@pytest.mark.parametrize("path", ["/etc/ceph", "/etc/cephlab", "/usr/local/lab", "/"])
def test_system_locations_are_refused(path):
    with pytest.raises(ConfigError, match="system location"):
        check_lab_dir(Path(path))


def test_lab_dir_that_is_a_file_or_a_foreign_directory(tmp_path):
    afile = tmp_path / "f"
    afile.write_text("x")
    with pytest.raises(ConfigError, match="is not a directory"):
        check_lab_dir(afile)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("not ours")
    with pytest.raises(ConfigError, match="holds no lab of this harness"):
        check_lab_dir(foreign)
    assert check_lab_dir(tmp_path / "new" / "lab") == (tmp_path / "new" / "lab").resolve()


def test_unknown_target_on_the_command_line(harness_in_process):
    res = harness_in_process("--lab-target=kvm", "-k", "ceph_cluster")
    assert res.returncode == 4, res.stdout + res.stderr
    assert "unknown lab target 'kvm'" in res.stderr


def test_env_var_chooses_the_target(harness_in_process):
    res = harness_in_process("--collect-only", "-q", env={"LAB_TARGET": "kvm"})
    assert res.returncode == 4 and "unknown lab target 'kvm'" in res.stderr


def test_bad_lab_dir_on_the_command_line(harness_in_process):
    res = harness_in_process("--lab-target=local", "--lab-dir=/etc/cephlab-test", "-k", "ceph_cluster")
    assert res.returncode == 4 and "system location" in res.stderr


def test_vagrant_without_vagrant_fails_at_once(tmp_path, harness_in_process):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    res = harness_in_process("--lab-target=vagrant", f"--lab-dir={tmp_path / 'lab'}", "-k", "ceph_cluster",
                      env={"PATH": f"{bindir}:{Path(sys.executable).parent}"})
    assert res.returncode == 4, res.stdout + res.stderr
    assert "needs the `vagrant` executable" in res.stdout + res.stderr
    assert not (tmp_path / "lab").exists()


def test_missing_ceph_binaries_say_what_to_install(tmp_path, harness_in_process):
    """On this machine's Ceph (--lab-ceph=host): the programs are looked for on PATH, and the
    packages named are the distro's."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(sys.executable, bindir / "python3")
    res = harness_in_process("--lab-target=local", "--lab-ceph=host", f"--lab-dir={tmp_path / 'lab'}",
                      "-k", "ceph_cluster", env={"PATH": str(bindir)})
    out = res.stdout + res.stderr
    assert res.returncode == 4, out
    assert "the local target needs ceph-mon, ceph-osd" in out
    assert "apt-get install -y --no-install-recommends ceph-base ceph-common ceph-mds" in out
    assert not (tmp_path / "lab" / "state.json").exists()


@pytest.mark.skipif(bool(ceph_unavailable()),
                    reason=f"the local pre-flight needs ceph {TEST_CEPH}: {ceph_unavailable()}")
def test_ports_in_use_are_named_and_nothing_is_built(tmp_path, harness_in_process):
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind((f"{BUSY}.3", 6789))
    holder.listen()
    try:
        res = harness_in_process("--lab-target=local", f"--lab-ip-prefix={BUSY}",
                          f"--lab-dir={tmp_path / 'lab'}", "-k", "ceph_cluster")
    finally:
        holder.close()
    out = res.stdout + res.stderr
    assert res.returncode == 4, out
    assert f"{BUSY}.3:6789 (k8s-2's mon)" in out
    assert not (tmp_path / "lab" / "state.json").exists()


@pytest.mark.parametrize("prefix", ["10.254.1", "127.0", "127.0.1.5", "127.300.1"])
def test_ip_prefix_must_be_loopback(prefix, harness_in_process):
    res = harness_in_process("--lab-target=local", f"--lab-ip-prefix={prefix}", "--collect-only", "-q")
    assert res.returncode == 4 and "inside 127.0.0.0/8" in res.stderr


def test_unknown_destroy_policy(harness_in_process):
    res = harness_in_process("--lab-destroy=sometimes", "--collect-only", "-q")
    assert res.returncode == 4 and "unknown --lab-destroy policy 'sometimes'" in res.stderr


def test_plan_mode_writes_the_lab_and_runs_nothing(tmp_path, harness_in_process):
    res = harness_in_process("--lab-target=vagrant", f"--lab-plan={tmp_path / 'plan'}",
                      f"--lab-dir={tmp_path / 'lab'}")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "Nothing was run" in res.stdout
    assert (tmp_path / "plan" / "plan.md").exists()
    assert (tmp_path / "plan" / "07_ceph_cluster" / "commands.sh").exists()
    assert not (tmp_path / "lab").exists()


@pytest.mark.parametrize("target", ["local", "nodes"])
def test_plan_mode_is_refused_where_no_person_runs_the_plan(tmp_path, harness_in_process, target):
    """The nodes target has Kubernetes too, but the harness makes its node containers: plan
    mode writes plans for VMs and existing clusters only."""
    res = harness_in_process(f"--lab-target={target}", f"--lab-plan={tmp_path / 'plan'}")
    out = res.stdout + res.stderr
    assert res.returncode == 4 and "--lab-plan is for the vagrant and cluster targets" in out, out
    assert f"this run's target is {target}" in out
    assert not (tmp_path / "plan").exists()


@pytest.mark.skipif(bool(ceph_unavailable()), reason=ceph_unavailable() or "-")
def test_verify_mode_without_a_lab_says_so_and_makes_nothing(tmp_path, harness_in_process):
    """Verify mode reads a lab that exists: a lab dir without one is bad input (it crashed
    inside pytest once, exiting 3 with a traceback)."""
    res = harness_in_process("--lab-target=local", "--lab-mode=verify", f"--lab-dir={tmp_path / 'lab'}")
    out = res.stdout + res.stderr
    assert res.returncode == 4, out
    assert "holds no lab (no state.json)" in out and "INTERNALERROR" not in out
    assert f"--lab-dir={tmp_path / 'lab'} --lab-destroy=never" in out
    assert not (tmp_path / "lab" / "state.json").exists()
