"""Run a stage's typed plan (:mod:`cephlab.k8s.plan_ops`) against a live cluster, in order.

One method per operation type (:data:`PlanRunner.HANDLERS`); nothing here reads shell text:

- objects are applied with the ``kubernetes`` client (server-side apply, field manager
  ``cephlab``; Secrets are only created, never overwritten); upstream manifests by URL and
  the dashboard chart through ``kubectl``/``helm`` argv;
- waits (phase, condition, rollout, count, OSD pods gone, safe-to-destroy) are named waits
  over the pure checks of :mod:`cephlab.k8s.kube_checks`, failing fast on pods that cannot recover;
- host commands (``kubectl``, a node's transport, ``curl``) run as argv lists, ``kubectl``
  pinned to the lab's kubeconfig and context; run-time values (the join command, OSD ids)
  stay in Python variables, and a credential is never logged.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional, Sequence

from ..errors import CommandError, LabError
from ..waits import wait_for
from . import kube_checks
from .kube import Kube
from .objects import ROOK_NS
from .plan_ops import (DOWNLOAD, HTTP_MAX_TIME, HTTP_RETRIES, HTTP_RETRY_DELAY, TOOLBOX_EXEC, Apply,
                       ApplyUrl, ApplyUrlEdited, Delete, Exec, FetchKubeconfig, HelmInstall, HttpCheck, KubeadmJoin,
                       Kubectl, NodeScript, Note, RemoveOsds,
                       Rollout, Scale, Ssh, StagePlan, Taint, Toolbox, VagrantUp, WaitCondition,
                       WaitCount, WaitNodesReady, WaitPhase)

COMMAND_TIMEOUT = 3600.0


def point_kubeconfig(text: str, server: str) -> str:
    """The kubeconfig ``text`` with every cluster's server set to ``server``."""
    import yaml

    doc = yaml.safe_load(text)
    clusters = doc.get("clusters") or []
    if not clusters:
        raise LabError("the fetched kubeconfig names no cluster")
    for cluster in clusters:
        cluster["cluster"]["server"] = server
    return yaml.safe_dump(doc, sort_keys=False)


class PlanRunner:
    """Runs plans. ``record(obj, created)`` hears of every object applied."""


    def __init__(self, kube: Kube, work_dir: Path, *, fail_fast: Callable[[], None],
                 record: Callable[[dict, bool], None], say: Callable[[str], None],
                 timeout_scale: float = 1.0, env: Optional[dict[str, str]] = None,
                 fetch: Optional[Callable[[str], str]] = None):
        self.kube, self.work_dir = kube, Path(work_dir)
        self.extra_env = dict(env or {})   #: e.g. the vagrant target's VAGRANT_CWD/DOTFILE_PATH
        self.fail_fast, self.record, self.say = fail_fast, record, say
        self.timeout_scale = timeout_scale
        self.stage_dir = self.work_dir
        #: an upstream manifest's text by URL: downloaded with retries, unless the target
        #: has its own copies (the nodes target reads them from the Go modules it built from)
        self.fetch = fetch or self.download

    def run(self, plan: StagePlan) -> None:
        self.stage_dir = self.work_dir / plan.dirname
        self.stage_dir.mkdir(parents=True, exist_ok=True)
        for op in plan.ops:
            handler = self.HANDLERS.get(type(op))
            if handler is None:
                raise LabError(f"stage {plan.slug}: the plan runner cannot run {type(op).__name__}")
            handler(self, op)

    # ------------------------------------------------------------------ processes
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra_env)
        env["KUBECONFIG"] = str(self.kube.kubeconfig or "")
        if self.kube.context:
            env["HELM_KUBECONTEXT"] = self.kube.context
        return env

    def _kubectl(self, *argv: str) -> list[str]:
        context = ["--context", self.kube.context] if self.kube.context else []
        return ["kubectl", *context, *argv]

    def command(self, argv: Sequence[str], *, stdin: Optional[str] = None, quiet: bool = False,
                timeout: float = COMMAND_TIMEOUT, shown: Optional[Sequence[str]] = None) -> str:
        """Run ``argv`` (no shell); its stdout, or CommandError. ``quiet``: its output is a
        credential and is neither logged nor put in the error."""
        shown = list(shown or argv)
        self.say("$ " + shlex.join(shown))
        proc = subprocess.Popen(list(argv), env=self._env(), cwd=self.stage_dir, text=True,
                                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            out, err = proc.communicate(stdin, timeout=timeout * self.timeout_scale)
        except subprocess.TimeoutExpired:
            raise CommandError(shown, -1, "",
                               f"timed out after {timeout * self.timeout_scale:.0f}s") from None
        except FileNotFoundError as exc:
            raise LabError(f"cannot run {argv[0]!r}: {exc}") from None
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.returncode != 0:
            raise CommandError(shown, proc.returncode, "" if quiet else out, err)
        if out.strip() and not quiet:
            self.say(out.rstrip()[-2000:])
        return out

    # ------------------------------------------------------------------ objects
    def apply(self, op: Apply) -> None:
        obj = op.obj
        what = str(op.ref)
        if obj["kind"] == "Secret":
            created = self.kube.create_if_absent(obj)
            self.say(f"{what}: {'created' if created else 'exists, left as it is'}")
        else:
            created = self.kube.apply(obj)
            self.say(f"{what}: {'created' if created else 'updated'} (server-side apply)")
        self.record(obj, created)

    def download(self, url: str) -> str:
        return self.command([*DOWNLOAD, url], quiet=True)

    def apply_url(self, op: ApplyUrl) -> None:
        self._apply_text(op.url, self.fetch(op.url), "")

    def _apply_text(self, url: str, text: str, what: str) -> None:
        argv = self._kubectl("apply", "--server-side", "-f", "-")
        self.command(argv, stdin=text, shown=[*argv, f"<{url}{what}>"])

    def apply_url_edited(self, op: ApplyUrlEdited) -> None:
        text = self.fetch(op.url)
        lines = text.split("\n")
        for old, new in op.edits:
            hits = [i for i, line in enumerate(lines) if line == old]
            if len(hits) != 1:
                raise LabError(f"{op.url}: expected the line {old!r} exactly once, found it "
                               f"{len(hits)} times; the pinned manifest is not what the plan "
                               f"was written for")
            lines[hits[0]] = new
        self._apply_text(op.url, "\n".join(lines), f" with {len(op.edits)} edit(s)")

    def helm_install(self, op: HelmInstall) -> None:
        self.command(["helm", "upgrade", "--install", op.release, op.chart, "--namespace",
                      op.namespace, "--create-namespace", "--wait", "--timeout", op.timeout])

    # ------------------------------------------------------------------ waits
    def _current(self, kind: str, name: str, namespace: Optional[str]) -> Callable[[], Any]:
        def get() -> Any:
            obj = self.kube.get_json(kind, name, namespace)
            assert obj is not None, f"{kind} {name} does not exist yet"
            return obj
        return get

    def _wait(self, name: str, probe: Callable[[], Any], timeout: float, interval: float = 3) -> None:
        wait_for(name, probe, timeout=timeout * self.timeout_scale, interval=interval,
                 fail_fast=self.fail_fast)

    def wait_phase(self, op: WaitPhase) -> None:
        current = self._current(op.kind, op.name, op.namespace)
        self._wait(f"{op.kind} {op.name} phase {op.phase}",
                   lambda: kube_checks.assert_cr_phase(current(), op.phase), op.timeout)

    def wait_condition(self, op: WaitCondition) -> None:
        current = self._current(op.kind, op.name, op.namespace)
        if op.kind == "Job" and op.condition == "Complete":
            self._wait(f"job {op.name} complete", lambda: self._job_complete(current()), op.timeout)
        else:
            self._wait(f"{op.kind} {op.name} {op.condition}",
                       lambda: kube_checks.assert_condition(current(), op.condition), op.timeout)

    def wait_nodes_ready(self, op: WaitNodesReady) -> None:
        def probe() -> None:
            nodes = self.kube.get_json("Node")
            kube_checks.assert_nodes_ready(nodes, [n["metadata"]["name"] for n in nodes])
        self._wait("every node Ready", probe, op.timeout)

    def rollout(self, op: Rollout) -> None:
        current = self._current(op.kind, op.name, op.namespace)
        check = (kube_checks.assert_deployment_available if op.kind == "Deployment"
                 else kube_checks.assert_daemonset_ready)
        self._wait(f"{op.kind.lower()} {op.name} rolled out", lambda: check(current()), op.timeout)

    def wait_count(self, op: WaitCount) -> None:
        def probe() -> int:
            n = len(self.kube.get_json(op.kind, namespace=op.namespace, label_selector=op.selector))
            assert n >= op.at_least, f"{n} {op.kind}s match {op.selector}, want {op.at_least}"
            return n
        self._wait(f"{op.at_least} {op.kind}s {op.selector}", probe, op.timeout, interval=10)

    def _job_complete(self, job: dict) -> int:
        if kube_checks.job_failed(job):
            meta = job["metadata"]
            pods = self.kube.get_json("Pod", namespace=meta.get("namespace"),
                                      label_selector=f"job-name={meta['name']}")
            tail = self.kube.pod_log(pods[-1]["metadata"]["name"], meta.get("namespace")) if pods else ""
            kube_checks.assert_job_not_failed(job, tail)
        return kube_checks.assert_job_complete(job)

    # ------------------------------------------------------------------ kubectl
    def scale(self, op: Scale) -> None:
        self.command(self._kubectl("-n", op.namespace, "scale", f"deploy/{op.name}",
                                   f"--replicas={op.replicas}"))

    def delete(self, op: Delete) -> None:
        ns = ["-n", op.namespace] if op.namespace else []
        what = [f"{op.kind.lower()}/{op.name}"] if op.name else [op.kind.lower(), "-l", op.selector]
        self.command(self._kubectl(*ns, "delete", *what, "--ignore-not-found"))

    def taint(self, op: Taint) -> None:
        node = self.kube.get_json("Node", op.node)
        if node is None:
            raise LabError(f"node {op.node} is not registered")
        key, _, effect = op.taint.partition(":")
        has = any(t.get("key") == key and t.get("effect") == effect
                  for t in (node.get("spec") or {}).get("taints") or [])
        if has == op.remove:   # removing a present taint, or adding an absent one
            self.command(self._kubectl("taint", "nodes", op.node, op.taint + ("-" if op.remove else "")))
        else:
            self.say(f"node {op.node}: taint {op.taint} already {'absent' if op.remove else 'present'}")

    def kubectl(self, op: Kubectl) -> None:
        out = self.command(self._kubectl(*op.argv), quiet=op.secret)
        if op.secret and not out.strip():
            raise LabError(f"kubectl {' '.join(op.argv[:4])}… printed nothing")

    def exec(self, op: Exec) -> None:
        short = {"Deployment": "deploy", "Pod": "pod"}[op.kind]
        self.command(self._kubectl("-n", op.namespace, "exec", f"{short}/{op.name}", "--", *op.argv))

    def toolbox(self, op: Toolbox) -> str:
        return self.command(self._kubectl(*TOOLBOX_EXEC[1:], *op.command()))

    # ------------------------------------------------------------------ hosts
    def http_check(self, op: HttpCheck) -> None:
        self.command(op.argv(), timeout=60 + HTTP_RETRIES * (HTTP_RETRY_DELAY + HTTP_MAX_TIME))

    def vagrant_up(self, op: VagrantUp) -> None:
        self.command(["vagrant", "up", f"--provider={op.provider}"])

    def ssh(self, op: Ssh) -> str:
        return self.command(op.host_argv())

    def kubeadm_join(self, op: KubeadmJoin) -> None:
        join = self.command(op.token_command().host_argv(), quiet=True).replace("\r", "").strip()
        argv = shlex.split(join)
        if argv[:2] != ["kubeadm", "join"]:
            raise LabError(f"{op.first} printed no kubeadm join command")
        for node in op.nodes:
            shown = op.via.shell(node, op.join_line(f"kubeadm join {argv[2]} --token *** …"))
            self.command(op.via.shell(node, op.join_line(join)), shown=shown)

    def fetch_kubeconfig(self, op: FetchKubeconfig) -> None:
        if self.kube.kubeconfig is None:
            raise LabError(f"the kubeconfig of {op.node} has nowhere to go: the plan runner's "
                           f"Kubernetes client names no kubeconfig file")
        text = self.command(op.read_command().host_argv(), quiet=True).replace("\r", "")
        if op.server:   # before anything on this machine reads it
            text = point_kubeconfig(text, op.server)
        path = Path(self.kube.kubeconfig)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(path, 0o600)
        self.say(f"kubeconfig of {op.node} written to {path} (mode 0600)")

    def node_script(self, op: NodeScript) -> None:
        path = self.stage_dir / op.name
        path.write_text(op.text)
        path.chmod(0o755)
        argv = list(op.argv())
        if argv[0] == "kubectl":   # the lab's context, as every kubectl of the plan runner
            argv = self._kubectl(*argv[1:])
        self.command(argv, stdin=op.text, shown=[*argv, "<", str(path)])

    def remove_osds(self, op: RemoveOsds) -> None:
        """Ceph's safe order, each wait named and bounded (see :class:`RemoveOsds`)."""
        def ceph(*args: str) -> str:
            return self.toolbox(Toolbox(tuple(args)))

        ids = ceph("osd", "ls-tree", op.crush_host).split()
        if not ids:
            self.say(f"CRUSH host {op.crush_host} holds no OSD: nothing to remove (run before)")
        self.say(f"OSDs of {op.crush_host}: {', '.join(ids)}")
        for i in ids:
            ceph("osd", "out", f"osd.{i}")
        for i in ids:
            def safe_to_destroy(i: str = i) -> None:
                self._succeeds(Toolbox(("osd", "safe-to-destroy", f"osd.{i}")))

            self._wait(f"osd.{i} safe to destroy", safe_to_destroy, op.drain_timeout, interval=15)
        for i in ids:
            self.scale(Scale(f"rook-ceph-osd-{i}", ROOK_NS, 0))
        for i in ids:
            def gone(i=i) -> None:
                pods = self.kube.get_json("Pod", namespace=ROOK_NS, label_selector=f"ceph-osd-id={i}")
                assert not pods, f"pod(s) of osd.{i} still exist: " + ", ".join(
                    p["metadata"]["name"] for p in pods)
            self._wait(f"osd.{i} pods gone", gone, op.stop_timeout, interval=5)
        for i in ids:
            ceph("osd", "down", f"osd.{i}")
        for i in ids:
            ceph("osd", "purge", i, "--yes-i-really-mean-it")
        ceph("osd", "crush", "rm", op.crush_host)
        for i in ids:
            self.command(self._kubectl("-n", ROOK_NS, "delete", f"deploy/rook-ceph-osd-{i}",
                                       "--ignore-not-found"))

    def _succeeds(self, op: Toolbox) -> None:
        try:
            self.toolbox(op)
        except CommandError as exc:
            raise AssertionError(f"{' '.join(op.argv)}: {exc.stderr.strip()[-200:]}") from None

    def note(self, op: Note) -> None:
        self.say(f"# {op.text}")

    #: operation type -> the method that runs it (one per type; an unknown type is refused)
    HANDLERS: ClassVar[dict[type, Callable[[PlanRunner, Any], Any]]] = {
        Apply: apply, ApplyUrl: apply_url, ApplyUrlEdited: apply_url_edited,
        HelmInstall: helm_install, WaitPhase: wait_phase, WaitCondition: wait_condition,
        WaitNodesReady: wait_nodes_ready, Rollout: rollout, WaitCount: wait_count,
        Scale: scale, Delete: delete, Taint: taint, Kubectl: kubectl, Exec: exec, Toolbox: toolbox,
        HttpCheck: http_check, VagrantUp: vagrant_up, Ssh: ssh, KubeadmJoin: kubeadm_join,
        FetchKubeconfig: fetch_kubeconfig, NodeScript: node_script, RemoveOsds: remove_osds,
        Note: note,
    }
