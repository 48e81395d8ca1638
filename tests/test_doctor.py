"""``cephlab doctor``: it reads the machine, changes nothing, and blocks on what would."""

from cephlab import doctor
from cephlab.__main__ import main
import pytest  # noqa: E402

pytestmark = pytest.mark.standin

NAMES = {"python", "root", "kernel: fuse", "kernel: loop", "kernel: nftables", "distro packages",
         "python packages", "ceph 20 root", "root views", "node + ghost", "browser", "nodes target", "ports"}


def test_every_check_answers_on_this_machine(tmp_path, capsys):
    found = doctor.checks(tmp_path / "lab", "127.0.250")
    assert NAMES <= {c.name for c in found}
    assert all(c.state in (doctor.OK, doctor.SETUP, doctor.WARN, doctor.BLOCKED) for c in found)
    assert all(c.detail for c in found)
    assert not (tmp_path / "lab").exists()  # it created nothing
    rc = main(["doctor", "--lab-dir", str(tmp_path / "lab"), "--lab-ip-prefix", "127.0.250"])
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith(("ready:", "blocked:"))
    assert rc == (1 if any(c.state == doctor.BLOCKED for c in found) else 0)


def test_a_busy_port_blocks_naming_the_address_and_what_to_do():
    held = {("127.0.9.2", 30001)}
    found = doctor._ports("127.0.9", probe=lambda ip, port: "in use by pid 7 (x)" if (ip, port) in held else None)
    assert found[0].state == doctor.BLOCKED
    assert "127.0.9.2:30001 (k8s-1): in use by pid 7" in found[0].detail
    assert "--lab-ip-prefix" in found[0].todo
    assert doctor._ports("127.0.9", probe=lambda ip, port: None)[0].state == doctor.OK


def test_not_root_is_blocked_and_the_exit_code_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(doctor.os, "geteuid", lambda: 1000)
    assert doctor._root().state == doctor.BLOCKED
    monkeypatch.setattr(doctor, "checks", lambda lab_dir, prefix, tests=False: [doctor._root()])
    assert main(["doctor", "--lab-dir", str(tmp_path)]) == 1
    assert "blocked: root" in capsys.readouterr().out


def test_render_says_what_setup_will_do():
    lines = doctor.render([doctor.Check("ceph 20 root", doctor.SETUP, "set-up will build it"),
                           doctor.Check("root", doctor.OK, "root")])
    assert lines[-1] == "ready: set-up (make lab) installs or builds ceph 20 root first"


def test_a_view_left_by_a_gone_lab_is_a_warning_that_says_who_releases_it(tmp_path, monkeypatch):
    from cephlab.local import chroot

    monkeypatch.setattr(chroot, "VIEWS_DIR", tmp_path / "views")
    assert doctor._views().state == doctor.OK
    (tmp_path / "views").mkdir()
    chroot._record(chroot.view_of(tmp_path / "gone"), tmp_path / "gone")
    check = doctor._views()
    assert check.state == doctor.WARN and str(chroot.view_of(tmp_path / "gone")) in check.detail
    assert "next lab run releases" in check.todo


def test_doctor_runs_on_the_stock_python_before_set_up():
    """Before set-up there is no venv: the checks import nothing the project installs."""
    import subprocess

    from tests.conftest import ROOT

    done = subprocess.run(["/usr/bin/python3", "-S", "-m", "cephlab", "doctor"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    assert "python packages" in done.stdout and "unexpected" not in done.stderr
