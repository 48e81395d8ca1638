"""What the Kubernetes targets share (by composition): it runs a target's typed stage plan
through :class:`cephlab.k8s.plan_runner.PlanRunner`,
records every object it applies in the lab state, fails waits fast on terminal pod and job
states, collects diagnostics, and deletes what the harness created.

A target hands it what differs: how to reach the API (``kube``; ``runner_kube`` for the
plan's lines, which on the vagrant target run before the kubeconfig exists), the plans, and
extra environment for the plan's shell lines.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable, Mapping

from ..ceph import CephRunner, ToolboxCeph
from ..config import LabConfig
from ..stages import Stage
from ..state import LabState
from ..waits import wait_for
from . import kube_checks
from . import manifests as m
from .kube import Kube

if TYPE_CHECKING:
    from .plan_ops import StagePlan

log = logging.getLogger("cephlab")

NEVER_DELETE = frozenset({"Node", "Namespace", "CustomResourceDefinition"})
APP_LABELS = ("minio", "mysql", "ghost", "cephfs-helper")
RECORD_KEY = "k8s_applied"


class KubeEngine:
    def __init__(self, cfg: LabConfig, state: LabState, *, kube: Callable[[], Kube],
                 plans: Callable[[], Mapping[Stage, StagePlan]],
                 runner_kube: Callable[[], Kube] | None = None,
                 env: Callable[[], dict[str, str]] = dict,
                 fetch: Callable[[str], str] | None = None):
        self.cfg, self.state = cfg, state
        self._kube, self._plans = kube, plans
        self._runner_kube = runner_kube or kube
        self._env = env
        self._fetch = fetch   #: upstream manifests by URL (None: downloaded)

    @property
    def kube(self) -> Kube:
        return self._kube()

    def ceph(self) -> CephRunner:
        kube = self.kube
        return ToolboxCeph(kube.kubeconfig, kube.context, namespace=m.ROOK_NS, deployment=m.TOOLBOX)

    # ------------------------------------------------------------------ stages
    def run_plan(self, stage: Stage) -> None:
        """Run the target's plan of ``stage``, op by op (:mod:`.plan_runner`)."""
        from .plan_runner import PlanRunner

        runner = PlanRunner(self._runner_kube(), self.cfg.lab_dir / "work", fail_fast=self.fail_fast,
                            record=lambda obj, created: self.record(stage, obj, created),
                            say=lambda text: log.info("[%s] %s", stage.slug, text),
                            timeout_scale=self.cfg.timeouts.command / 60.0,
                            env=self._env(), fetch=self._fetch)
        runner.run(self._plans()[stage])

    def record(self, stage: Stage, obj: dict, created: bool) -> None:
        meta = obj["metadata"]
        ref = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": meta["name"],
               "namespace": meta.get("namespace"), "stage": stage.slug, "created": created}
        refs = self.recorded()
        if any(_same(r, ref) for r in refs):
            return
        refs.append(ref)
        self.state.put(RECORD_KEY, refs)

    def recorded(self) -> list[dict]:
        return list(self.state.get(RECORD_KEY, []))

    # ------------------------------------------------------------------ failing fast
    def fail_fast(self) -> None:
        try:
            pods = self.kube.get_json("Pod", namespace=m.ROOK_NS)
            pods += [p for p in self.kube.get_json("Pod", namespace=m.APPS_NS)
                     if ((p.get("metadata") or {}).get("labels") or {}).get("app") in APP_LABELS]
            jobs = self.kube.get_json("Job", namespace=m.ROOK_NS,
                                      label_selector="app=rook-ceph-osd-prepare")
        except Exception as exc:  # an API hiccup must not end a wait; the probe will see it
            log.debug("fail_fast could not read the cluster: %s", exc)
            return
        found = kube_checks.terminal_pod_states(pods)
        if found:
            ns, _, pod = found[0][0].rpartition("/")
            tail = self.kube.pod_log(pod, ns, found[0][1], tail=20,
                                     previous=found[0][2] == "CrashLoopBackOff")
            kube_checks.assert_no_terminal_pod_state(pods, tail)
        for job in jobs:
            if kube_checks.job_failed(job):
                name = job["metadata"]["name"]
                prep = next((p for p in pods if (p["metadata"].get("labels") or {}).get("job-name") == name), None)
                tail = self.kube.pod_log(prep["metadata"]["name"], m.ROOK_NS, "provision", tail=25) if prep else ""
                kube_checks.assert_job_not_failed(job, tail, "provision")

    def diagnostics(self) -> str:
        from .diagnostics import collect

        return collect(self.kube, self.ceph())

    # ------------------------------------------------------------------ teardown
    def delete_created(self, *, wipe_disks: bool) -> list[str]:
        """Delete, newest first, the objects the harness created; never nodes, namespaces or
        CRDs. With ``wipe_disks`` the CephCluster is first told to wipe its hosts' data and
        disks (Rook's cleanup policy)."""
        refs = [r for r in self.recorded() if r.get("created")]
        deleted = []
        for ref in reversed(refs):
            if ref["kind"] in NEVER_DELETE:
                log.warning("not deleting %s %s: the harness never deletes %ss",
                            ref["kind"], ref["name"], ref["kind"])
                continue
            if ref["kind"] == "CephCluster" and wipe_disks:
                self.kube.merge_patch(ref, {"spec": {"cleanupPolicy": {
                    "confirmation": "yes-really-destroy-data",
                    "sanitizeDisks": {"method": "quick", "dataSource": "zero", "iteration": 1}}}})
            if self.kube.delete(ref):
                deleted.append(_label(ref))
        if deleted:
            wait_for(f"{len(deleted)} deleted objects to be gone", lambda: self._gone(refs),
                     timeout=600 * self.cfg.timeouts.command / 60.0, interval=5)
        return deleted

    def _gone(self, refs: list[dict]) -> None:
        left = [_label(r) for r in refs if r["kind"] not in NEVER_DELETE and self.kube.get_json(
            r["kind"], r["name"], r.get("namespace"), api_version=r["apiVersion"]) is not None]
        assert not left, f"still present: {', '.join(left)}"

    def status(self) -> list[str]:
        return [f"{_label(r):<60} {'created' if r.get('created') else 'existed'} in stage {r['stage']}"
                for r in self.recorded()]


def _same(a: dict, b: dict) -> bool:
    return all(a.get(k) == b.get(k) for k in ("apiVersion", "kind", "name", "namespace"))


def _label(ref: dict) -> str:
    return f"{ref['kind']} {ref['namespace'] + '/' if ref.get('namespace') else ''}{ref['name']}"
