"""Run one stage plan (:mod:`cephlab.k8s.plan_build`) against a live cluster, in order.

Each plan line becomes one of:

- ``kubectl apply -f "$STAGE/NN-….yaml"`` → the NN-th object, applied with the kubernetes
  client (server-side apply; Secrets are only created, never overwritten);
- ``kubectl wait KIND/NAME --for=jsonpath='{.status.phase}'=X``, ``kubectl wait … --for=
  condition=C`` and ``kubectl rollout status deploy/NAME`` → a named wait on the pure checks
  of :mod:`cephlab.k8s.checks`, failing fast on pods that cannot recover;
- anything else → bash, with ``kubectl`` pinned to the lab's kubeconfig and context.

Consecutive shell lines run in one bash; variables a line assigns (``OSD_IDS=…``) are
handed to later groups through the environment (never a file, never argv).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from ..errors import CommandError, LabError
from ..waits import wait_for
from . import checks
from .kube import Kube
from .plan_build import StagePlan

SHORT_KINDS = {
    "cephcluster": "CephCluster", "cephblockpool": "CephBlockPool",
    "cephfilesystem": "CephFilesystem", "cephobjectstore": "CephObjectStore",
    "objectbucketclaim": "ObjectBucketClaim", "pod": "Pod", "job": "Job",
    "crd": "CustomResourceDefinition", "deploy": "Deployment", "deployment": "Deployment",
}
_APPLY = re.compile(r'^kubectl apply -f "\$STAGE/(\d+)-[^"]+\.yaml"$')
_PHASE = re.compile(r"^kubectl (?:-n (?P<ns>\S+) )?wait (?P<kind>\w+)/(?P<name>\S+) "
                    r"--for=jsonpath='\{\.status\.phase\}'=(?P<value>\w+) --timeout=(?P<t>\d+)s$")
_COND = re.compile(r"^kubectl (?:-n (?P<ns>\S+) )?wait (?:(?P<r1>\w+/\S+) )?"
                   r"--for=condition=(?P<cond>\w+) (?:(?P<r2>\w+/\S+) )?--timeout=(?P<t>\d+)s$")
_ROLLOUT = re.compile(r"^kubectl (?:-n (?P<ns>\S+) )?rollout status (?:deploy|deployment)/"
                      r"(?P<name>\S+) --timeout=(?P<t>\d+)s$")
_ASSIGN = re.compile(r"^([A-Z][A-Z0-9_]*)=")
SHELL_TIMEOUT = 7200.0


@dataclass
class Action:
    kind: str              #: apply | phase | condition | rollout | shell
    line: str
    index: int = -1        #: apply: the object's index in the plan
    resource: str = ""     #: waits: Kind
    name: str = ""
    namespace: Optional[str] = None
    value: str = ""        #: phase value or condition type
    timeout: float = 0.0


def parse(plan: StagePlan) -> list[Action]:
    """The plan's lines as actions, in order (pure: nothing runs)."""
    out = []
    for line in plan.commands:
        if m := _APPLY.match(line):
            index = int(m.group(1)) - 1
            if not 0 <= index < len(plan.objects):
                raise LabError(f"stage {plan.slug}: {line!r} names no object of the plan")
            out.append(Action("apply", line, index=index))
        elif m := _PHASE.match(line):
            out.append(Action("phase", line, resource=SHORT_KINDS[m["kind"]], name=m["name"],
                              namespace=m["ns"], value=m["value"], timeout=float(m["t"])))
        elif (m := _COND.match(line)) and (m["r1"] or m["r2"]) and "--all" not in line:
            kind, name = (m["r1"] or m["r2"]).split("/", 1)
            out.append(Action("condition", line, resource=SHORT_KINDS[kind], name=name,
                              namespace=m["ns"], value=m["cond"], timeout=float(m["t"])))
        elif m := _ROLLOUT.match(line):
            out.append(Action("rollout", line, resource="Deployment", name=m["name"],
                              namespace=m["ns"], timeout=float(m["t"])))
        else:
            out.append(Action("shell", line))
    return out


class StageRunner:
    """Runs parsed plans. ``record(obj, created)`` hears of every object applied."""

    def __init__(self, kube: Kube, work_dir: Path, *, fail_fast: Callable[[], None],
                 record: Callable[[dict, bool], None], say: Callable[[str], None],
                 timeout_scale: float = 1.0, env: Optional[dict[str, str]] = None):
        self.kube, self.work_dir = kube, Path(work_dir)
        self.extra_env = dict(env or {})   #: e.g. the vagrant target's VAGRANT_CWD/DOTFILE_PATH
        self.fail_fast, self.record, self.say = fail_fast, record, say
        self.scale = timeout_scale
        self.env_vars: dict[str, str] = {}

    def run(self, plan: StagePlan) -> None:
        stage_dir = self.work_dir / plan.dirname
        stage_dir.mkdir(parents=True, exist_ok=True)
        for name, text in plan.scripts.items():
            path = stage_dir / name
            path.write_text(text)
            path.chmod(0o755)
        shell: list[str] = []
        for action in parse(plan):
            if action.kind == "shell":
                shell.append(action.line)
                continue
            if shell:
                self.shell(shell, stage_dir)
                shell = []
            if action.kind == "apply":
                self.apply(plan.objects[action.index])
            else:
                self.wait(action)
        if shell:
            self.shell(shell, stage_dir)

    # ------------------------------------------------------------------ actions
    def apply(self, obj: dict) -> None:
        meta = obj["metadata"]
        what = f"{obj['kind']} {meta.get('namespace', '') + '/' if meta.get('namespace') else ''}{meta['name']}"
        if obj["kind"] == "Secret":
            created = self.kube.create_if_absent(obj)
            self.say(f"{what}: {'created' if created else 'exists, left as it is'}")
        else:
            created = self.kube.apply(obj)
            self.say(f"{what}: {'created' if created else 'updated'} (server-side apply)")
        self.record(obj, created)

    def wait(self, a: Action) -> None:
        ns = a.namespace or ("default" if a.resource not in ("CustomResourceDefinition",) else None)
        label = f"{a.resource} {a.name}"

        def current() -> Any:
            obj = self.kube.get_json(a.resource, a.name, ns)
            assert obj is not None, f"{label} does not exist yet"
            return obj

        if a.kind == "phase":
            probe = lambda: checks.assert_cr_phase(current(), a.value)  # noqa: E731
            name = f"{label} phase {a.value}"
        elif a.kind == "rollout":
            probe = lambda: checks.assert_deployment_available(current())  # noqa: E731
            name = f"deployment {a.name} rolled out"
        elif a.resource == "Job" and a.value == "Complete":
            probe = lambda: self._job_complete(current())  # noqa: E731
            name = f"job {a.name} complete"
        else:
            probe = lambda: checks.assert_condition(current(), a.value)  # noqa: E731
            name = f"{label} {a.value}"
        wait_for(name, probe, timeout=a.timeout * self.scale, interval=3, fail_fast=self.fail_fast)

    def _job_complete(self, job: dict) -> int:
        if checks.job_failed(job):
            meta = job["metadata"]
            pods = self.kube.get_json("Pod", namespace=meta.get("namespace"),
                                      label_selector=f"job-name={meta['name']}")
            tail = self.kube.pod_log(pods[-1]["metadata"]["name"], meta.get("namespace")) if pods else ""
            checks.assert_job_not_failed(job, tail)
        return checks.assert_job_complete(job)

    def shell(self, lines: list[str], stage_dir: Path) -> None:
        """Run ``lines`` in one bash; raise CommandError on the first failing line."""
        names = sorted({m.group(1) for line in lines if (m := _ASSIGN.match(line))})
        fd, vars_file = tempfile.mkstemp(prefix="vars.", dir=self.work_dir)
        os.close(fd)
        script = "\n".join(["set -euo pipefail", *lines]
                           + [f'printf "%s=%s\\0" {n} "${{{n}-}}" >> "$CEPHLAB_VARS"' for n in names])
        env = self.environment(stage_dir)
        env["CEPHLAB_VARS"] = vars_file
        for line in lines:
            self.say(f"$ {line}")
        shown = ["bash", "-c", "; ".join(lines)]
        # its own process group: on a timeout (or an interrupt) nothing it started lingers
        proc = subprocess.Popen(["bash", "-c", script], env=env, cwd=stage_dir, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=SHELL_TIMEOUT * self.scale)
            if proc.returncode != 0:
                raise CommandError(shown, proc.returncode, out, err)
            raw = Path(vars_file).read_text()
        except subprocess.TimeoutExpired:
            raise CommandError(shown, -1, "", f"timed out after {SHELL_TIMEOUT * self.scale:.0f}s") from None
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            os.unlink(vars_file)
        for pair in filter(None, raw.split("\0")):
            key, _, value = pair.partition("=")
            self.env_vars[key] = value

    def environment(self, stage_dir: Path) -> dict[str, str]:
        """PATH leads to a ``kubectl`` pinned to the lab's context (when it has one yet: the
        vagrant target's kubeconfig is written during stage kubernetes); KUBECONFIG, STAGE,
        TOOLS, and the target's own variables (``env``)."""
        bin_dir = self.work_dir / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        real = _real_kubectl(bin_dir)
        wrapper = bin_dir / "kubectl"
        context = f"--context {shlex.quote(self.kube.context)} " if self.kube.context else ""
        wrapper.write_text(f"#!/bin/sh\nexec {shlex.quote(real)} {context}\"$@\"\n")
        wrapper.chmod(0o755)
        env = dict(os.environ)
        env.update(self.extra_env)
        env.update(self.env_vars)
        env.update({
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "KUBECONFIG": str(self.kube.kubeconfig or ""),
            "HELM_KUBECONTEXT": self.kube.context or "",
            "STAGE": str(stage_dir),
            "TOOLS": "kubectl -n rook-ceph exec deploy/rook-ceph-tools --",
        })
        return env


def _real_kubectl(exclude: Path) -> str:
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        cand = Path(entry) / "kubectl"
        if entry and Path(entry).resolve() != exclude.resolve() and os.access(cand, os.X_OK):
            return str(cand)
    raise LabError("kubectl is not on PATH")
