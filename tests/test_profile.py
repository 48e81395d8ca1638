"""The run profile (cephlab.profile): what it records, and only when asked."""

import json
import sys

import pytest

from cephlab import profile
from cephlab.ceph import CephRunner
from cephlab.waits import wait_for

pytestmark = pytest.mark.standin


class EchoCeph(CephRunner):
    """Runs the system's ``true`` in place of any Ceph tool: the transport is what is timed."""

    def command(self, argv):
        return [sys.executable, "-c", "pass"]


def test_command_names_drop_options_values_and_arguments():
    assert profile.command_name(["ceph", "-c", "/x/ceph.conf", "--connect-timeout", "15",
                                 "osd", "dump", "--format", "json"]) == "ceph osd dump"
    assert profile.command_name(["ceph", "osd", "out", "3"]) == "ceph osd out"
    assert profile.command_name(["rados", "-p", "rbd", "put", "obj-1", "/tmp/f"]) == "rados put"
    assert profile.command_name(["ceph", "osd", "pool", "get", "rbd", "size"]) == "ceph osd pool get"


def test_nothing_is_recorded_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(profile.ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    EchoCeph().run("status")
    wait_for("quick", lambda: 1, timeout=1)
    assert list(tmp_path.iterdir()) == []


def test_ceph_calls_and_waits_are_recorded(tmp_path, monkeypatch):
    out = tmp_path / "profile.jsonl"
    monkeypatch.setenv(profile.ENV, str(out))
    EchoCeph().run("osd", "tree")
    EchoCeph().run("osd", "tree")
    calls = iter([AssertionError("not yet"), 7])

    def probe():
        step = next(calls)
        if isinstance(step, Exception):
            raise step
        return step

    assert wait_for("two looks", probe, timeout=5, interval=0.01) == 7
    with pytest.raises(AssertionError):
        wait_for("never", lambda: (_ for _ in ()).throw(AssertionError("no")), timeout=0.05,
                 interval=0.01)
    records = profile.load(out.read_text().splitlines())
    assert [(r["kind"], r["name"]) for r in records] == [
        ("ceph", "ceph osd tree"), ("ceph", "ceph osd tree"), ("wait", "two looks"), ("wait", "never")]
    assert records[2]["attempts"] == 2 and records[2]["ok"] is True
    assert records[3]["ok"] is False
    assert all(r["s"] >= 0 for r in records)
    text = profile.summarize(records)
    assert "ceph: 2 in" in text and "2x" in text and "ceph osd tree" in text
    assert "wait: 2 in" in text and "two looks" in text


def test_the_command_line_sums_a_file(tmp_path, capsys):
    out = tmp_path / "p.jsonl"
    out.write_text("\n".join(json.dumps({"t": 0, "kind": "wait", "name": n, "s": s})
                             for n, s in (("a", 1.0), ("a", 2.0), ("b", 0.5))) + "\n")
    assert profile.main([str(out)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("wait: 3 in 3.5s")
    assert text.splitlines()[1].split()[:2] == ["3.0s", "2x"]
    assert profile.main([]) == 2
