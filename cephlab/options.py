"""The run's options: one table, and the one reading of it into a :class:`LabConfig`.

Every option has a command-line form, an environment variable and an ini name
(``pytest.ini``), taken in that order, then its default. A row marked ``saved`` is stored
with the lab when it is made (:class:`cephlab.state.LabOptions`) and every later command on
that lab uses the stored value; its ``field`` names the attribute in both LabConfig and
LabOptions, and tests/test_options.py checks that the three agree. Adding an option is a row
here, its check in :func:`build_config`, and for a saved one the field in both dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from . import registry
from . import stages as S
from .config import DESTROY_POLICIES, LabConfig, Timeouts, check_lab_dir, env_or, resolve_target
from .errors import ConfigError
from .model import LOCAL_IP_PREFIX

YES_NO = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


@dataclass(frozen=True)
class Option:
    flag: str                       #: the command-line form
    env: str                        #: the environment variable
    help: str
    default: Optional[str] = None   #: also the ini default
    saved: bool = False             #: stored with the lab; later commands use the stored value
    field: Optional[str] = None     #: the LabConfig (and, when saved, LabOptions) attribute

    @property
    def ini(self) -> str:
        """The ini name and pytest's dest: ``--lab-ceph`` -> ``lab_ceph``."""
        name = self.flag.lstrip("-").replace("-", "_")
        return name if name.startswith("lab_") else f"lab_{name}"


OPTIONS: tuple[Option, ...] = (
    Option("--lab-target", "LAB_TARGET", f"where the lab runs: {registry.choices_text()}",
           default=registry.AUTO, saved=True, field="target"),
    Option("--lab-dir", "LAB_DIR", "the lab's state directory (default .lab/<target>)",
           field="lab_dir"),
    Option("--lab-destroy", "LAB_DESTROY",
           "teardown policy: passing (destroy when all passed), always, never",
           default="passing", field="destroy"),
    Option("--lab-report", "LAB_REPORT",
           "write this run's HTML report to FILE (screenshots next to it in FILE-screenshots/)"),
    Option("--lab-ip-prefix", "LAB_IP_PREFIX",
           f"local target: node k8s-N listens on PREFIX.N+1 (default {LOCAL_IP_PREFIX})",
           default=LOCAL_IP_PREFIX, saved=True, field="ip_prefix"),
    Option("--lab-timeout-scale", "LAB_TIMEOUT_SCALE", "multiply every wait's timeout (slow machines)",
           default="1", field="timeouts"),
    Option("--lab-ceph", "LAB_CEPH",
           "local target: the Ceph release, host (the distro's), 20 or 18 (from Debian's archive, "
           "in a cached root), auto (20 where its root can be built, else host)",
           default="auto", saved=True, field="ceph_release"),
    Option("--kubeconfig", "KUBECONFIG",
           "cluster target: the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)",
           saved=True, field="kubeconfig"),
    Option("--kube-context", "LAB_KUBE_CONTEXT",
           "cluster target: the kubeconfig context (default: its current context)",
           saved=True, field="kube_context"),
    Option("--lab-cluster-config", "LAB_CLUSTER_CONFIG",
           "cluster target: YAML file naming the storage nodes and their devices",
           saved=True, field="cluster_config"),
    Option("--lab-allow-destructive", "LAB_ALLOW_DESTRUCTIVE",
           "cluster target: allow stages that remove storage or wipe disks (yes/no)",
           default="no", field="allow_destructive"),
    Option("--lab-mode", "LAB_MODE",
           "build (build the lab stage by stage) or verify (grade a lab built by hand, change nothing)",
           default="build", field="mode"),
    Option("--lab-reached", "LAB_REACHED",
           "verify mode: the stage the lab reached (default: the furthest stage whose evidence holds)",
           field="reached"),
    Option("--lab-verify-readonly", "LAB_VERIFY_READONLY",
           "verify mode: skip the data round trips too (yes/no)", default="no", field="verify_readonly"),
    Option("--lab-plan", "LAB_PLAN",
           "write every manifest and host command of the whole lab into DIR and run nothing "
           "(vagrant and cluster targets)"),
    Option("--lab-plan-force", "LAB_PLAN_FORCE",
           "plan mode: rewrite a plan already in DIR, keeping its generated credentials (yes/no)",
           default="no"),
)
BY_FLAG = {o.flag: o for o in OPTIONS}
SAVED = tuple(o for o in OPTIONS if o.saved)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("cephlab", "Ceph-on-Kubernetes lab")
    for o in OPTIONS:
        group.addoption(o.flag, dest=o.ini, default=None, help=f"{o.help} [env {o.env}, ini {o.ini}]")
        parser.addini(o.ini, o.help, default=o.default)


def value(config: pytest.Config, flag: str) -> Optional[str]:
    """The option's value: command line, environment, ini (its default included), or None."""
    o = BY_FLAG[flag]
    return env_or(config.getoption(o.ini), o.env, config.getini(o.ini) or None)


def yes_no(config: pytest.Config, flag: str) -> bool:
    text = (value(config, flag) or BY_FLAG[flag].default or "no").lower()
    if text not in YES_NO:
        raise ConfigError(f"{flag} takes yes or no, not {text!r}")
    return YES_NO[text]


def build_config(config: pytest.Config) -> LabConfig:
    """Read and check every lab option; raises ConfigError on bad input (no work done)."""
    target, reason = resolve_target(value(config, "--lab-target"))
    path = Path(value(config, "--lab-dir") or f".lab/{target}")
    if not path.is_absolute():
        path = Path(config.rootpath) / path
    destroy = (value(config, "--lab-destroy") or "passing").lower()
    if destroy not in DESTROY_POLICIES:
        raise ConfigError(f"unknown --lab-destroy policy {destroy!r}; choose one of: "
                          f"{', '.join(DESTROY_POLICIES)}")
    prefix = value(config, "--lab-ip-prefix") or LOCAL_IP_PREFIX
    parts = prefix.split(".")
    if len(parts) != 3 or parts[0] != "127" or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ConfigError(f"--lab-ip-prefix {prefix!r} must be three octets inside 127.0.0.0/8, "
                          f"e.g. 127.0.1 (local daemons bind to loopback only)")
    try:
        scale = float(value(config, "--lab-timeout-scale") or 1)
        assert scale > 0
    except (ValueError, AssertionError):
        raise ConfigError("--lab-timeout-scale must be a positive number") from None
    cluster_config = value(config, "--lab-cluster-config")
    allow = yes_no(config, "--lab-allow-destructive")
    mode, reached, readonly = _verify_options(config)
    from .targets import target_class

    ceph_release, ceph_reason = target_class(target).ceph_release(value(config, "--lab-ceph"))
    return LabConfig(target=target, target_reason=reason,
                     lab_dir=check_lab_dir(path, reading=mode == "verify"),
                     ceph_release=ceph_release, ceph_reason=ceph_reason,
                     destroy=destroy, ip_prefix=prefix, timeouts=Timeouts().scaled(scale),
                     kubeconfig=value(config, "--kubeconfig"),
                     kube_context=value(config, "--kube-context"),
                     cluster_config=Path(cluster_config) if cluster_config else None,
                     allow_destructive=allow, mode=mode, reached=reached, verify_readonly=readonly)


def _verify_options(config: pytest.Config) -> tuple[str, Optional[str], bool]:
    from .verify import MODES

    mode = (value(config, "--lab-mode") or "build").lower()
    if mode not in MODES:
        raise ConfigError(f"unknown --lab-mode {mode!r}; choose one of: {', '.join(MODES)}")
    reached = value(config, "--lab-reached")
    readonly = yes_no(config, "--lab-verify-readonly")
    if mode != "verify" and (reached or readonly):
        raise ConfigError("--lab-reached and --lab-verify-readonly are for --lab-mode=verify")
    if reached:
        try:
            S.get(reached)
        except KeyError as exc:
            raise ConfigError(f"--lab-reached: {exc.args[0]}") from None
    return mode, reached, readonly
