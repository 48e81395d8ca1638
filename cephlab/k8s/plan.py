"""Write the whole Kubernetes lab as files, in stage order, without running anything.

``write_plan(out_dir)`` creates one directory per stage (``07_ceph_cluster/`` ...) holding
every manifest the stage applies (one object per YAML file, numbered in apply order) and
``commands.sh``, the ordered host commands; ``plan.md`` indexes them, names every variable
the scripts read and every host tool they need, and how to verify each stage. Credentials
are generated per plan (or passed in) and appear only in the Secret manifests (mode 0600).

A directory that already holds a plan is rewritten only when asked (``force``); its
generated credentials are then read back and kept, so a plan already applied still agrees
with its files. The vagrant plan carries a copy of the lab's Vagrantfile: its scripts find
it beside the plan (``VAGRANT_CWD`` defaults to the plan directory), never in this checkout.

    python -m cephlab.k8s.plan OUT_DIR [--target vagrant|cluster] [--force]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import yaml

from . import manifests as m
from .. import versions
from .host_tools import TOOLS
from .plan_build import LAB_DEVICES, build, planned_stages
from .plan_check import check_plan
from .plan_ops import StagePlan

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


class PlanExists(FileExistsError):
    """The directory holds a plan already and rewriting it was not asked for."""


#: Variables the vagrant plan's scripts read, and what they mean.
VAGRANT_VARIABLES = {
    "VAGRANT_CWD": "the directory holding the lab's Vagrantfile (default: the plan directory, "
                   "which holds a copy); Vagrant keeps the machines' state in its .vagrant/",
    "VAGRANT_DOTFILE_PATH": "where Vagrant keeps the machines' state (default: $VAGRANT_CWD/.vagrant); "
                            "read by Vagrant itself",
    "LAB_PROVIDER": "the VM provider for `vagrant up`: virtualbox (default) or libvirt",
    "KUBECONFIG": "the admin kubeconfig: stage kubernetes writes it (default: $PLAN/kubeconfig, "
                  "mode 0600) and every later stage's kubectl and helm use it",
}
#: Variables of the Vagrantfile (read by `vagrant up`, stage vms); the plan is for their defaults.
VAGRANTFILE_VARIABLES = {
    "LAB_NODES": "number of VMs (default 3; the plan is written for its nodes, keep it)",
    "LAB_CPUS": "vCPUs per VM (default 2)",
    "LAB_MEMORY": "MiB of memory per VM (default 4096)",
    "LAB_DISK_GB": "size of each data disk sdc/sdd in GB (default 10)",
    "LAB_BOX": f"the Vagrant box (default {versions.UBUNTU_BOX})",
    "LAB_BOX_VERSION": f"the box version (default {versions.UBUNTU_BOX_VERSION} for the default box)",
    "LAB_FIRMWARE": "bios (default) or efi (libvirt: the OVMF loader)",
    "LAB_OVMF_CODE": "libvirt with efi: the OVMF firmware file (default: the first of the usual paths)",
    "LAB_VB_CONTROLLER": "VirtualBox: the box's storage controller (default: read from its box.ovf)",
    "VAGRANT_HOME": "Vagrant's home, where the Vagrantfile looks for the box's box.ovf",
}
CLUSTER_VARIABLES = {
    "KUBECONFIG": "the kubeconfig of the existing cluster (kubectl's and helm's own variable; "
                  "unset: ~/.kube/config), with its current context set to the lab's cluster",
}
#: programs of every stage's commands.sh besides the lab's tools (coreutils, grep, sed)
BASE_TOOLS = "bash, coreutils (timeout, tr, wc, sleep), grep, sed"


@dataclass(frozen=True)
class Written:
    """What a plan a person runs needs besides the stages' operations, for one target."""

    #: host programs its commands.sh use (cephlab.k8s.host_tools.TOOLS)
    tools: tuple[str, ...]
    #: environment variables its scripts read, and what they mean
    variables: Mapping[str, str]
    #: lines each commands.sh runs after its own set-up
    header: tuple[str, ...] = ()
    #: the kubeconfig and cluster config the verifying command names
    kubeconfig: str = "$KUBECONFIG"
    cluster_config: str = "CLUSTER.yaml"
    cluster_config_where: str = ("CLUSTER.yaml is the cluster config this plan was written for (the "
                                 "storage nodes and their devices; see examples/ in the checkout)")
    #: the Vagrantfile's own variables, where the plan carries a copy of it
    vagrantfile_variables: Mapping[str, str] = field(default_factory=dict)
    #: what the machines need, where the plan makes them (a paragraph of the tools section)
    machines: str = ""
    #: the plan carries the lab's Vagrantfile and the cluster config of its VMs
    vagrant_files: bool = False
    #: the plan is for an existing cluster, which a cluster config may describe
    takes_cluster_config: bool = False


#: The targets plan mode writes a plan for: a person runs it on VMs or an existing cluster
#: (the nodes target's containers are made by the harness, not by a plan).
WRITTEN = {
    "vagrant": Written(
        tools=("vagrant", "VBoxManage", "virsh", "kubectl", "helm", "curl"),
        variables=VAGRANT_VARIABLES,
        # the Vagrantfile beside the plan (a copy) unless VAGRANT_CWD names another
        header=('export VAGRANT_CWD="${VAGRANT_CWD:-$PLAN}"',
                'export KUBECONFIG="${KUBECONFIG:-$PLAN/kubeconfig}"'),
        kubeconfig="$PLAN/kubeconfig", cluster_config="$PLAN/cluster.yaml",
        cluster_config_where="cluster.yaml beside this file names the VMs, their data disks and addresses",
        vagrantfile_variables=VAGRANTFILE_VARIABLES,
        machines=(f"On the VMs, nothing is needed from this host: `vagrant up` (stage vms) runs the "
                  f"Vagrantfile's provisioning, which installs containerd and kubeadm, kubelet and "
                  f"kubectl `{versions.KUBERNETES_DEB}` (held) from {versions.KUBERNETES_APT_REPO}; "
                  f"stage kubernetes then runs that kubeadm over `vagrant ssh`. One provider is "
                  f"enough: VirtualBox (`VBoxManage`) or libvirt (`virsh` and the vagrant-libvirt "
                  f"plugin, with `LAB_PROVIDER=libvirt`)."),
        vagrant_files=True),
    "cluster": Written(tools=("kubectl", "helm", "curl"), variables=CLUSTER_VARIABLES,
                       takes_cluster_config=True),
}
TARGETS = tuple(WRITTEN)


def _header(plan: StagePlan, target: str) -> str:
    lines = [
        "#!/usr/bin/env bash",
        f"# Stage {plan.stage.key} {plan.slug}: {plan.stage.title}.",
        f"# Written by cephlab.k8s.plan for target {target!r}; run the stages in order.",
        "set -euo pipefail",
        'STAGE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"',
        'PLAN="$(dirname "$STAGE")"',
    ]
    lines += WRITTEN[target].header
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


def _prepare(out_dir: pathlib.Path, force: bool) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = list(out_dir.iterdir())
    if entries and not (out_dir / "plan.md").exists():
        raise FileExistsError(f"{out_dir} is not empty and holds no plan.md; refusing to write into it")
    if entries and not force:
        raise PlanExists(f"{out_dir} holds a plan already (plan.md); a plan that was applied must "
                         f"agree with its files, so it is not replaced. Rewrite it on purpose with "
                         f"--lab-plan-force (python -m cephlab.k8s.plan: --force); its generated "
                         f"credentials are kept. Or choose another directory")
    stage_dirs = {f"{s.key}_{s.slug}" for s in planned_stages()}
    for entry in entries:          # a previous plan: replace its stage directories
        if entry.is_dir() and entry.name in stage_dirs:
            shutil.rmtree(entry)


def secrets_in(out_dir: pathlib.Path, target: str, nodes, plan_params: Mapping) -> dict[str, str]:
    """The generated credentials of the plan in ``out_dir``, read back from its Secret
    manifests (where each key lands is found by building the plan with marker values);
    keys the directory does not hold (an older or partial plan) are left out."""
    markers = {k: (f"m{i}marker{'x' * 8}" if k.endswith("_user") else f"Marker{i}{'x' * 20}")
               for i, k in enumerate(m.SECRET_KEYS)}
    found: dict[str, str] = {}
    for plan in build(target, nodes, m.check_secrets(markers), **plan_params):
        for op in plan.applies():
            if op.obj["kind"] != "Secret":
                continue
            path = out_dir / plan.dirname / op.file
            if not path.is_file():
                continue
            held = (yaml.safe_load(path.read_text()) or {}).get("stringData") or {}
            for name, value in (op.obj.get("stringData") or {}).items():
                for key, marker in markers.items():
                    if value == marker and held.get(name):
                        found[key] = str(held[name])
    return found


def _variables_table(variables: Mapping[str, str]) -> str:
    return "\n".join(f"| `{name}` | {text} |" for name, text in variables.items())


def _tools_section(target: str) -> str:
    written = WRITTEN[target]
    rows = "\n".join(f"| `{TOOLS[t].program}` | {TOOLS[t].needed_for} | {TOOLS[t].how} |"
                      for t in written.tools)
    vms = f"\n\n{written.machines}" if written.machines else ""
    return (f"Every `commands.sh` uses {BASE_TOOLS} and:\n\n| program | needed because it | how to get it |\n"
            f"|---|---|---|\n{rows}{vms}")


def vagrant_cluster_config(nodes) -> dict:
    """The cluster target's config for the cluster a vagrant plan builds: the VMs, their data
    disks and private addresses (written beside the plan as cluster.yaml)."""
    return {"nodes": [{"name": n, "devices": list(LAB_DEVICES), "address": m.lab_ip(i)}
                      for i, n in enumerate(nodes)]}


def _verify_section(plans: list[StagePlan], target: str) -> str:
    written = WRITTEN[target]
    kubeconfig, config, where = written.kubeconfig, written.cluster_config, written.cluster_config_where
    example = plans[min(6, len(plans) - 1)].slug
    return "\n".join([
        "After running a stage's `commands.sh`, check it with the harness's scenarios for that "
        "stage, run from a checkout of this project against the cluster the plan built, with "
        "`PLAN` set to this directory:", "",
        "```sh",
        f"pytest features/ --lab-target=cluster --kubeconfig={kubeconfig} \\",
        f"    --lab-cluster-config={config} --lab-destroy=never -k <stage>",
        "```", "",
        f"e.g. `-k {example}`; {where}. The cluster target applies the stage's own objects "
        "again first (server-side apply of the same objects changes nothing), then asserts "
        "what the stage promises; it never creates or destroys nodes, and with "
        "`--lab-destroy=never` it deletes nothing. A stage that removes storage (remove_node) "
        "is asserted this way only with `--lab-allow-destructive=yes`. Stages the cluster "
        "target does not run (vms, kubernetes, cni, master_isolation: an existing cluster "
        "has them) are checked by the cluster target's pre-flight on every such run (the "
        "nodes Ready with their addresses, no NoSchedule taint on a storage node), or by "
        "hand with `kubectl get nodes -o wide` and `kubectl describe nodes | grep Taints`.",
    ])


def _index(plans: list[StagePlan], target: str, nodes: tuple[str, ...]) -> str:
    rows = "\n".join(
        f"| {p.stage.key} | [{p.slug}]({p.dirname}/commands.sh) | {p.stage.title} | {len(p.objects)} | {len(p.ops)} |"
        for p in plans)
    pinned = "\n".join(f"| {k} | `{v}` |" for k, v in versions.ALL.items())
    addresses = ", ".join(f"{n} {m.lab_ip(i)}" for i, n in enumerate(nodes))
    written = WRITTEN[target]
    variables = _variables_table(written.variables)
    vagrantfile = ""
    if written.vagrantfile_variables:
        vagrantfile = ("\nThe Vagrantfile (a copy beside this file) reads, at `vagrant up`:\n\n"
                       "| variable | meaning |\n|----------|---------|\n"
                       + _variables_table(written.vagrantfile_variables) + "\n")
    tools, verify = _tools_section(target), _verify_section(plans, target)
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

## Variables the scripts read

Each `commands.sh` sets `STAGE` (its own directory) and `PLAN` (the plan directory) itself
and keeps run-time values (the join command, OSD ids) in its own variables. From the
environment it reads:

| variable | meaning |
|----------|---------|
{variables}
{vagrantfile}
## Host tools

{tools}

## Verifying each stage

{verify}

## Credentials

MinIO and MySQL credentials were generated for this plan (or passed in) and appear only in
the Secret manifests (`*-secret-*.yaml`, mode 0600). Treat this directory as secret; the
join token and the dashboard token are created at run time and never written here.
Writing the plan again into this directory needs `--lab-plan-force` and keeps these
credentials (they are read back from the Secret manifests).
"""


def write_plan(out_dir: pathlib.Path, *, target: str = "vagrant",
               nodes: Iterable[str] = m.NODES, secrets: Mapping[str, str] | None = None,
               vagrantfile: pathlib.Path = REPO_ROOT / "Vagrantfile", cluster_config=None,
               force: bool = False) -> list[pathlib.Path]:
    """Write the plan; return every file written, in stage and apply order, plan.md last.

    A directory holding a plan already raises :class:`PlanExists` unless ``force``; with
    ``force`` and no ``secrets`` given, the plan's generated credentials are read back from
    it and kept. The vagrant plan gets a copy of ``vagrantfile``.

    ``cluster_config`` (a :class:`cephlab.k8s.cluster_config.ClusterConfig`, cluster target
    only) supplies node names, devices and the first node's address. The plan is checked
    (:func:`cephlab.k8s.plan_check.check_plan`) before anything is written; a plan that fails
    raises :class:`cephlab.k8s.plan_check.PlanCheckError` and writes nothing."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; targets are: {', '.join(TARGETS)}")
    out_dir = pathlib.Path(out_dir)
    params: dict = {}
    names: tuple[str, ...]
    if cluster_config is not None:
        if not WRITTEN[target].takes_cluster_config:
            raise ValueError("a cluster config is for the cluster target only")
        names = cluster_config.names
        params = cluster_config.plan_parameters()
    else:
        names = m.check_nodes(nodes)
    if secrets is not None:
        secrets = m.check_secrets(secrets)
    else:
        kept = secrets_in(out_dir, target, names, params) if force and out_dir.is_dir() else {}
        secrets = m.check_secrets({**m.generate_secrets(), **kept})
    plans = build(target, names, secrets, **params)
    check_plan(plans, target)
    _prepare(out_dir, force)
    written: list[pathlib.Path] = []
    for plan in plans:
        stage_dir = out_dir / plan.dirname
        stage_dir.mkdir()
        for op in plan.applies():
            mode = 0o600 if op.obj["kind"] == "Secret" else 0o644
            written.append(_write(stage_dir / op.file, _dump(op.obj), mode))
        for name, text in plan.scripts.items():
            written.append(_write(stage_dir / name, text, 0o755))
        body = _header(plan, target) + plan.render() + "\n"
        written.append(_write(stage_dir / "commands.sh", body, 0o755))
    if WRITTEN[target].vagrant_files:
        written.append(_write(out_dir / "Vagrantfile", pathlib.Path(vagrantfile).read_text()))
        written.append(_write(out_dir / "cluster.yaml", yaml.safe_dump(vagrant_cluster_config(names),
                                                                       sort_keys=False)))
    written.append(_write(out_dir / "plan.md", _index(plans, target, names)))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cephlab.k8s.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=pathlib.Path)
    parser.add_argument("--target", choices=TARGETS, default="vagrant")
    parser.add_argument("--nodes", default=",".join(m.NODES), help="comma-separated node names")
    parser.add_argument("--force", action="store_true",
                        help="rewrite a plan already in OUT_DIR (its generated credentials are kept)")
    args = parser.parse_args(argv)
    try:
        files = write_plan(args.out_dir, target=args.target, nodes=args.nodes.split(","),
                           force=args.force)
    except (ValueError, FileExistsError) as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")
    print(f"wrote {len(files)} files; index: {files[-1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
