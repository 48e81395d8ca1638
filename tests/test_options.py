"""The option table (cephlab/options.py) is the one place an option is declared: its saved
rows, LabConfig and LabOptions name the same fields, and what a lab saves is what a later
command on it gets back."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cephlab import options
from cephlab.config import LabConfig
from cephlab.state import LabOptions, LabState, read_options

pytestmark = pytest.mark.unit


def test_every_saved_option_is_a_field_of_both_configs():
    saved = {o.field for o in options.SAVED}
    assert saved == {f.name for f in dataclasses.fields(LabOptions)}
    config_fields = {f.name for f in dataclasses.fields(LabConfig)}
    for o in options.OPTIONS:
        assert o.field is None or o.field in config_fields, o


def test_flags_env_vars_and_ini_names_are_each_used_once():
    for attr in ("flag", "env", "ini"):
        names = [getattr(o, attr) for o in options.OPTIONS]
        assert len(names) == len(set(names)), attr
    assert options.BY_FLAG["--kubeconfig"].ini == "lab_kubeconfig"
    assert options.BY_FLAG["--lab-ceph"].ini == "lab_ceph"


def _unlike_defaults() -> dict:
    """A value for every saved field that differs from its default."""
    values = {"target": "cluster", "ip_prefix": "127.9.9", "ceph_release": "18",
              "kubeconfig": "/k/config", "kube_context": "ctx", "cluster_config": "/k/nodes.yaml"}
    assert set(values) == {o.field for o in options.SAVED}, "give the new saved option a value here"
    return values


def test_what_a_lab_saves_a_later_command_gets_back(tmp_path):
    values = _unlike_defaults()
    cfg = LabConfig(target_reason="test", lab_dir=tmp_path,
                    **{k: Path(v) if k == "cluster_config" else v for k, v in values.items()})
    state = LabState(tmp_path, cfg.options())
    state.save()
    back = LabConfig.from_saved(read_options(tmp_path), tmp_path, "kept")
    for name, value in values.items():
        got = getattr(back, name)
        assert (str(got) if isinstance(got, Path) else got) == value, name
    assert isinstance(back.cluster_config, Path)


def test_a_yes_no_option_refuses_anything_else(monkeypatch):
    class Config:
        rootpath = Path(".")

        def getoption(self, name):
            return "maybe" if name == "lab_allow_destructive" else None

        def getini(self, name):
            return next((o.default for o in options.OPTIONS if o.ini == name), None)

    monkeypatch.delenv("LAB_ALLOW_DESTRUCTIVE", raising=False)
    with pytest.raises(options.ConfigError, match="--lab-allow-destructive takes yes or no, not 'maybe'"):
        options.yes_no(Config(), "--lab-allow-destructive")
    assert options.yes_no(Config(), "--lab-verify-readonly") is False
