"""The command line's help and exit codes, and the compact form of the lab's failures
(no lab needed; the real-lab cases are in test_local_diagnose.py)."""

from __future__ import annotations

import argparse

import pytest

from cephlab import invoke
from cephlab.__main__ import main, parser
from cephlab.diagnose import Cause, cannot_heal
from cephlab.errors import CommandError, DaemonExited, WaitTimeout
from cephlab.failure import compact, next_commands, wants_compact

pytestmark = pytest.mark.unit

LAB = "/tmp/a-lab"
REPAIR = invoke.lab("repair", LAB)


def _subparsers(top: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_subcommand_and_option_has_help_and_the_exit_codes_are_documented(capsys):
    top = parser()
    subs = _subparsers(top)
    assert set(subs) == {"setup", "status", "repair", "destroy", "stages", "ceph", "rados", "rbd", "doctor"}
    for name, sub in subs.items():
        assert sub.description, name
        for action in sub._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for code in ("0  done", "1  the lab is not healthy", "2  bad usage", "4  no lab",
                 "exit with the tool's own code"):
        assert code in text


def test_version(capsys):
    with pytest.raises(SystemExit) as err:
        main(["--version"])
    assert err.value.code == 0
    assert capsys.readouterr().out.startswith("cephlab 0.")


def test_the_command_a_person_types_is_the_installed_script():
    """The venv's console script (no activation needed), else this Python's -m cephlab."""
    argv = invoke.harness()
    assert argv[-1].endswith("cephlab") and (len(argv) == 1 or argv[1:] == ["-m", "cephlab"])
    assert invoke.lab("status", "/a b") == f"{invoke.command()} status --lab-dir '/a b'"
    assert invoke.ceph("/l", "osd", "in", 1) == f"{invoke.command()} ceph --lab-dir /l -- osd in 1"
    assert invoke.runnable("ceph osd unset noup", "/l") == f"{invoke.command()} ceph --lab-dir /l -- osd unset noup"
    assert invoke.runnable("rbd ls replicapool", "/l").endswith("rbd --lab-dir /l -- ls replicapool")
    assert invoke.runnable("tail -n 5 /l/log", "/l") == "tail -n 5 /l/log"
    assert invoke.split_tool_args(["--", "osd", "tree"]) == ["osd", "tree"]


def test_toolbox_env_defines_the_labs_own_tools(tmp_path):
    text = invoke.toolbox_env(tmp_path, "ceph 20.2.4")
    for tool in ("ceph", "rados", "rbd"):
        line = next(ln for ln in text.splitlines() if ln.startswith(f"{tool}()"))
        assert f"{tool} --lab-dir {tmp_path} -- \"$@\"" in line
        assert line.split("{ ", 1)[1].startswith("/") or line.split("{ ", 1)[1].startswith("cephlab ")
    assert "export CEPH_CONF" not in text  # no host client pointed at the lab


def test_the_lab_dir_default_is_the_one_kept_lab(tmp_path, monkeypatch):
    from cephlab.__main__ import default_lab_dir
    from cephlab.errors import LabError

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAB_DIR", raising=False)
    assert default_lab_dir() == ".lab/local"  # where pytest keeps the default target's lab
    (tmp_path / ".lab" / "nodes").mkdir(parents=True)
    (tmp_path / ".lab" / "nodes" / "state.json").write_text("{}")
    assert default_lab_dir() == ".lab/nodes"
    (tmp_path / ".lab" / "local").mkdir(parents=True)
    (tmp_path / ".lab" / "local" / "state.json").write_text("{}")
    with pytest.raises(LabError, match="several kept labs"):
        default_lab_dir()
    assert main(["status"]) == 2
    monkeypatch.setenv("LAB_DIR", "elsewhere")
    assert default_lab_dir() == "elsewhere"


def test_status_and_repair_of_a_directory_without_a_lab_exit_4(tmp_path, capsys):
    for command in ("status", "repair"):
        assert main([command, "--lab-dir", str(tmp_path / "none")]) == 4
        assert f"no lab in {tmp_path / 'none'}" in capsys.readouterr().out
    assert main(["destroy", "--lab-dir", str(tmp_path / "none")]) == 0


def test_bad_usage_exits_2():
    with pytest.raises(SystemExit) as err:
        main(["repair", "--timeout", "soon"])
    assert err.value.code == 2


def test_the_footer_names_status_repair_destroy_and_the_toolbox():
    lines = next_commands(LAB, "local Ceph cluster …; toolbox: (the target's own words)")
    text = "\n".join(lines)
    for command in ("status", "repair", "destroy"):
        assert invoke.lab(command, LAB) in text
    assert lines[-1].startswith(f"toolbox: {invoke.ceph(LAB, 'status')}   (")
    assert not any("toolbox" in ln for ln in next_commands(LAB, "a lab without Ceph yet"))


def test_only_the_default_traceback_style_is_compact():
    assert wants_compact("auto", 0) and wants_compact("short", 0)
    assert not wants_compact("long", 0) and not wants_compact("auto", 1)


def test_a_cause_that_cannot_heal_leads_with_its_object_and_command():
    out = Cause("osd.1", "osd.1 on k8s-2 is marked out (by hand)", "ceph osd in 1")
    exc = cannot_heal([out])
    exc.args = (f"{exc}\n(the wait 'OSDs up' gave up after 2.0s of 90s; last observed: osd.1 is up and out)",)
    got = compact(exc, lab_dir=LAB, step="Then the OSDs are up and in  (features/x.feature:9)",
                  where="steps/ceph_steps.py:49", full="FULL TRACEBACK")
    lines = str(got).splitlines()
    assert lines[0] == "E   osd.1 on k8s-2 is marked out (by hand); next: ceph osd in 1"
    assert "E   (the wait 'OSDs up' gave up after 2.0s of 90s; last observed: osd.1 is up and out)" in lines
    assert "failed step: Then the OSDs are up and in  (features/x.feature:9)  (steps/ceph_steps.py:49)" in lines
    assert f"  repair:  {REPAIR}   (restart what is missing, wait until healthy)" in lines
    assert got.reprcrash.message == "osd.1 on k8s-2 is marked out (by hand); next: ceph osd in 1"
    assert (got.reprcrash.path, got.reprcrash.lineno) == ("steps/ceph_steps.py", 49)
    assert got.full == "FULL TRACEBACK"


def test_a_dead_daemon_names_repair_and_leaves_its_log_tail_to_the_diagnostics():
    exc = DaemonExited("daemon osd.2 (pid 7) is not running any more; log /l/osd.2.out, last "
                       "lines:\nTAIL LINE 1\nTAIL LINE 2\n(the wait 'x' gave up after 1.0s of 90s; "
                       "last observed: osd.2 is down and in)")
    dead = Cause("osd.2", "osd.2 on k8s-3 is down: its daemon (pid 7) exited", REPAIR)
    flag = Cause("flag noup", "the cluster flag noup is set", "ceph osd unset noup")
    text = str(compact(exc, lab_dir=LAB, causes=[dead, flag]))
    assert text.splitlines()[0] == f"E   daemon osd.2 (pid 7) is not running any more; next: {REPAIR}"
    assert "TAIL LINE" not in text and "log: /l/osd.2.out" in text
    assert "last observed: osd.2 is down and in" in text
    assert "  - the cluster flag noup is set; next: ceph osd unset noup" in text
    assert "osd.2 on k8s-3 is down" not in text  # the same daemon is not named twice


def test_a_timeout_leads_with_the_cause_found_after_it_or_with_repair():
    exc = WaitTimeout("Gave up waiting for 'HEALTH_OK' after 180.0s (timeout 180s, polled every "
                      "2s, 90 attempts); last observed: HEALTH_WARN: PG_DEGRADED: …")
    flag = Cause("flag norecover", "the cluster flag norecover is set", "ceph osd unset norecover")
    lines = str(compact(exc, lab_dir=LAB, causes=[flag])).splitlines()
    assert lines[0] == "E   the cluster flag norecover is set; next: ceph osd unset norecover"
    assert lines[1].startswith("E   Gave up waiting for 'HEALTH_OK'")
    lines = str(compact(exc, lab_dir=LAB)).splitlines()
    assert lines[0].endswith(f"; next: {REPAIR}") and "Gave up waiting" in lines[0]
    assert any("last observed: HEALTH_WARN" in ln for ln in lines)


def test_failures_that_are_not_the_labs_own_keep_pytests_text():
    assert compact(AssertionError("plain"), lab_dir=LAB) is None
    assert compact(KeyError("bug"), lab_dir=LAB) is None
    failed = compact(CommandError(["ceph", "osd", "in", "9"], 2, "", "osd.9 does not exist"), lab_dir=LAB)
    assert failed is not None and "osd.9 does not exist" in str(failed)
