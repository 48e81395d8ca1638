"""Write the whole Kubernetes lab as files, in stage order, without running anything.

``write_plan(out_dir)`` creates one directory per stage (``07_ceph_cluster/`` ...) holding
every manifest the stage applies (one object per YAML file, numbered in apply order) and
``commands.sh``, the ordered host commands; ``plan.md`` indexes them. Credentials are
generated per plan (or passed in) and appear only in the Secret manifests (mode 0600).

    python -m cephlab.k8s.plan OUT_DIR [--target vagrant|cluster]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
from typing import Iterable, Mapping

import yaml

from . import manifests as m
from . import versions
from .plan_build import TARGETS, build, planned_stages
from .plan_check import check_plan
from .plan_ops import StagePlan

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def _header(plan: StagePlan, target: str, vagrant_cwd: pathlib.Path) -> str:
    lines = [
        "#!/usr/bin/env bash",
        f"# Stage {plan.stage.key} {plan.slug}: {plan.stage.title}.",
        f"# Written by cephlab.k8s.plan for target {target!r}; run the stages in order.",
        "set -euo pipefail",
        'STAGE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"',
        'PLAN="$(dirname "$STAGE")"',
    ]
    if target == "vagrant":
        lines += [f'export VAGRANT_CWD="${{VAGRANT_CWD:-{vagrant_cwd}}}"',
                  'export KUBECONFIG="${KUBECONFIG:-$PLAN/kubeconfig}"']
    return "\n".join(lines) + "\n"


def _dump(obj: m.Obj) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)


def _write(path: pathlib.Path, text: str, mode: int = 0o644) -> pathlib.Path:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    tmp.replace(path)
    return path


def _prepare(out_dir: pathlib.Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = list(out_dir.iterdir())
    if entries and not (out_dir / "plan.md").exists():
        raise FileExistsError(f"{out_dir} is not empty and holds no plan.md; refusing to write into it")
    stage_dirs = {f"{s.key}_{s.slug}" for s in planned_stages()}
    for entry in entries:          # a previous plan: replace its stage directories
        if entry.is_dir() and entry.name in stage_dirs:
            shutil.rmtree(entry)


def _index(plans: list[StagePlan], target: str, nodes: tuple[str, ...]) -> str:
    rows = "\n".join(
        f"| {p.stage.key} | [{p.slug}]({p.dirname}/commands.sh) | {p.stage.title} | {len(p.objects)} | {len(p.ops)} |"
        for p in plans)
    pinned = "\n".join(f"| {k} | `{v}` |" for k, v in versions.ALL.items())
    addresses = ", ".join(f"{n} {m.node_ip(i)}" for i, n in enumerate(nodes))
    return f"""# Lab plan ({target} target)

Nodes: {addresses}. Pod network {m.POD_CIDR}. Nothing here has been run.
Run each stage's `commands.sh` in the order below; each applies the manifests beside it.
The plan passed the plan checker (`cephlab.k8s.plan_check`): every object a step uses is
created by an earlier step, and every stage is safe to run twice.

| key | stage | outcome | manifests | operations |
|-----|-------|---------|-----------|----------|
{rows}

## Pinned versions

| what | version |
|------|---------|
{pinned}

## Credentials

MinIO and MySQL credentials were generated for this plan (or passed in) and appear only in
the Secret manifests (`*-secret-*.yaml`, mode 0600). Treat this directory as secret; the
join token and the dashboard token are created at run time and never written here.
"""


def write_plan(out_dir: pathlib.Path, *, target: str = "vagrant",
               nodes: Iterable[str] = m.NODES, secrets: Mapping[str, str] | None = None,
               vagrant_cwd: pathlib.Path = REPO_ROOT, cluster_config=None) -> list[pathlib.Path]:
    """Write the plan; return every file written, in stage and apply order, plan.md last.

    ``cluster_config`` (a :class:`cephlab.k8s.cluster_config.ClusterConfig`, cluster target
    only) supplies node names, devices and the first node's address. The plan is checked
    (:func:`cephlab.k8s.plan_check.check_plan`) before anything is written; a plan that fails
    raises :class:`cephlab.k8s.plan_check.PlanCheckError` and writes nothing."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; targets are: {', '.join(TARGETS)}")
    secrets = m.check_secrets(secrets) if secrets is not None else m.generate_secrets()
    if cluster_config is not None:
        if target != "cluster":
            raise ValueError("a cluster config is for the cluster target only")
        nodes = cluster_config.names
        plans = build(target, nodes, secrets, **cluster_config.plan_parameters())
    else:
        nodes = m.check_nodes(nodes)
        plans = build(target, nodes, secrets)
    check_plan(plans, target)
    out_dir = pathlib.Path(out_dir)
    _prepare(out_dir)
    written: list[pathlib.Path] = []
    for plan in plans:
        stage_dir = out_dir / plan.dirname
        stage_dir.mkdir()
        for op in plan.applies():
            mode = 0o600 if op.obj["kind"] == "Secret" else 0o644
            written.append(_write(stage_dir / op.file, _dump(op.obj), mode))
        for name, text in plan.scripts.items():
            written.append(_write(stage_dir / name, text, 0o755))
        body = _header(plan, target, pathlib.Path(vagrant_cwd)) + plan.render() + "\n"
        written.append(_write(stage_dir / "commands.sh", body, 0o755))
    written.append(_write(out_dir / "plan.md", _index(plans, target, nodes)))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cephlab.k8s.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=pathlib.Path)
    parser.add_argument("--target", choices=TARGETS, default="vagrant")
    parser.add_argument("--nodes", default=",".join(m.NODES), help="comma-separated node names")
    args = parser.parse_args(argv)
    files = write_plan(args.out_dir, target=args.target, nodes=args.nodes.split(","))
    print(f"wrote {len(files)} files; index: {files[-1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
