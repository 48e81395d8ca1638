"""Plan mode (``--lab-plan DIR``): the whole Kubernetes lab written as files for review,
nothing run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import pytest

from .. import options
from ..config import LabConfig
from ..errors import ConfigError


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> Optional[int]:
    """Plan mode (``--lab-plan DIR``): write the plan, say so in one line, run nothing. It
    ends the run here, before a session starts (no collection, no lab)."""
    plan_dir = options.value(config, "--lab-plan")
    if not plan_dir or config.option.collectonly or config.getoption("help") \
            or config.getoption("version"):
        return None
    try:
        cfg = options.build_config(config)
        force = options.yes_no(config, "--lab-plan-force")
        out_dir = Path(plan_dir)
        if not out_dir.is_absolute():
            out_dir = Path(config.invocation_params.dir) / out_dir
        message = _write_plan(cfg, out_dir, force=force)
    except (ValueError, FileExistsError, ConfigError) as exc:
        sys.stderr.write(f"cephlab: {exc}\n")
        return int(pytest.ExitCode.USAGE_ERROR)
    sys.stdout.write(message + "\n")
    return int(pytest.ExitCode.OK)


def _write_plan(cfg: LabConfig, out_dir: Path, force: bool) -> str:
    """Plan mode: render the whole lab for review, run nothing; the one-line message."""
    from ..k8s.plan import WRITTEN, write_plan

    written_for = WRITTEN.get(cfg.target)
    if written_for is None:
        raise ConfigError(f"--lab-plan is for the {' and '.join(WRITTEN)} targets (this run's "
                          f"target is {cfg.target}: {cfg.target_reason})")
    # a plan for an existing cluster is for the configured nodes and devices, when given
    conf = None
    if written_for.takes_cluster_config and cfg.cluster_config:
        from ..k8s import cluster_config

        conf = cluster_config.load(cfg.cluster_config)
    # write_plan runs the plan checker first: a plan that fails it is refused, unwritten
    written = write_plan(out_dir, target=cfg.target, cluster_config=conf, force=force)
    return (f"cephlab: wrote the {cfg.target} plan ({len(written)} files) to {out_dir}; "
            f"read {out_dir / 'plan.md'} first. Nothing was run.")
