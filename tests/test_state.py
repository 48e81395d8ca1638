"""Typed lab state: a schema version, a known set of typed facts, and the options a lab was
built with, saved at creation and used by every later command (the CLI opens a kept lab with
them, whatever its own defaults)."""

from __future__ import annotations

import json

import pytest

from cephlab import invoke

from cephlab.__main__ import main
from cephlab.config import LabConfig
from cephlab.errors import ConfigError
from cephlab.lab import Lab
from cephlab.state import SCHEMA, LabOptions, LabState, read_options

pytestmark = pytest.mark.standin


def _local_lab(lab_dir, **kw) -> Lab:
    return Lab(LabConfig(target="local", target_reason="test", lab_dir=lab_dir, **kw),
               announce=lambda text: None)


def test_a_new_lab_saves_its_schema_and_options(tmp_path):
    lab = _local_lab(tmp_path / "lab", ip_prefix="127.13.1")
    lab.state.mark_applied("ceph_cluster", 1.0)
    doc = json.loads((tmp_path / "lab" / "state.json").read_text())
    assert doc["schema"] == SCHEMA == 2
    assert doc["options"] == {"target": "local", "ip_prefix": "127.13.1", "ceph_release": "host",
                              "kubeconfig": None, "kube_context": None, "cluster_config": None}
    assert read_options(tmp_path / "lab") == LabOptions("local", "127.13.1", "host")


def test_a_lab_of_another_schema_is_refused_naming_both_versions(tmp_path):
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir()
    (lab_dir / "state.json").write_text(json.dumps(
        {"created_by": "cephlab", "target": "local", "stages": {}, "daemons": {}, "data": {}}))
    with pytest.raises(ConfigError, match=r"schema version 1; this harness reads version 2\. "
                                          r"Destroy it \(`") as err:
        _local_lab(lab_dir)
    assert invoke.lab("destroy", lab_dir) in str(err.value)
    assert main(["destroy", "--lab-dir", str(lab_dir)]) == 0   # destroy still opens it
    assert not lab_dir.exists()


def test_other_options_on_a_kept_lab_are_refused_naming_both(tmp_path):
    _local_lab(tmp_path / "lab", ip_prefix="127.13.1").state.mark_applied("ceph_cluster", 1.0)
    with pytest.raises(ConfigError, match=r"built with ip_prefix '127\.13\.1' \(asked for "
                                          r"'127\.0\.1'\)"):
        _local_lab(tmp_path / "lab")
    with pytest.raises(ConfigError, match=r"ceph_release 'host' \(asked for '20\.2'\)"):
        _local_lab(tmp_path / "lab", ip_prefix="127.13.1", ceph_release="20.2")


def test_facts_are_known_and_typed(tmp_path):
    state = LabState(tmp_path / "lab", "local")
    state.put("raw_bytes_before_extend", 3 * 2 ** 30)
    assert state.get("raw_bytes_before_extend") == 3 * 2 ** 30
    with pytest.raises(KeyError, match="unknown lab fact 'raw_bytes'; known facts: raw_bytes_before_extend"):
        state.put("raw_bytes", 1)
    with pytest.raises(TypeError, match="raw_bytes_before_extend takes <class 'int'>, not str"):
        state.put("raw_bytes_before_extend", "3 GiB")
    with pytest.raises(KeyError):
        state.get("note")


def test_commands_open_a_kept_lab_with_its_own_prefix(tmp_path, capsys):
    lab_dir = tmp_path / "lab"
    _local_lab(lab_dir, ip_prefix="127.13.1").state.mark_applied("ceph_cluster", 1.0)
    lab = Lab.open(lab_dir)
    assert lab.cfg.ip_prefix == "127.13.1" and lab.cfg.target == "local"
    assert lab.target.endpoint("mysql") == ("127.13.1.2", 30020)   # where repair binds MariaDB
    assert lab.target.node_address("k8s-3") == "127.13.1.4"
    assert main(["status", "--lab-dir", str(lab_dir)]) == 1  # 1: nothing of this lab runs
    out = capsys.readouterr().out
    assert "k8s-1=127.13.1.2, k8s-2=127.13.1.3, k8s-3=127.13.1.4" in out
    assert "127.0.1." not in out


def test_a_cluster_lab_keeps_the_cluster_it_was_built_on(tmp_path):
    """destroy must delete the lab's objects in the cluster they were applied to."""
    conf = tmp_path / "cluster.yaml"
    cfg = LabConfig(target="cluster", target_reason="test", lab_dir=tmp_path / "lab",
                    kubeconfig="/home/u/kind.kubeconfig", kube_context="kind-cephlab",
                    cluster_config=conf)
    Lab(cfg, announce=lambda text: None).state.mark_applied("rook_operator", 1.0)
    lab = Lab.open(tmp_path / "lab")
    assert (lab.cfg.kubeconfig, lab.cfg.kube_context, lab.cfg.cluster_config) == (
        "/home/u/kind.kubeconfig", "kind-cephlab", conf)
    with pytest.raises(ConfigError, match="kube_context 'kind-cephlab' \\(asked for 'kind-other'\\)"):
        Lab(LabConfig(target="cluster", target_reason="test", lab_dir=tmp_path / "lab",
                      kubeconfig="/home/u/kind.kubeconfig", kube_context="kind-other",
                      cluster_config=conf), announce=lambda text: None)
