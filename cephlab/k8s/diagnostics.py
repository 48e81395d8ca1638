"""The "lab diagnostics" section of a failed scenario on a Kubernetes target.

What a person debugging a Rook lab reads first: the CephCluster's status, a describe-like
line per pod of the rook-ceph namespace, its recent events, the log tails of pods that are
not running and of every OSD prepare job's ``provision`` container (which says why a disk
was skipped), and ``ceph status`` from the toolbox. Secrets are never read.
"""

from __future__ import annotations

from typing import Any

from . import kube_checks
from . import manifests as m

MAX_LOG_TAILS = 5


def pod_line(pod: dict[str, Any]) -> str:
    """One describe-like line: name, phase, ready containers, restarts, node, waiting reasons."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(c.get("restartCount", 0) for c in statuses)
    waiting = [f"{c.get('name')}={(c.get('state') or {}).get('waiting', {}).get('reason')}"
               for c in (status.get("initContainerStatuses") or []) + statuses
               if (c.get("state") or {}).get("waiting")]
    return (f"{meta.get('name', '?'):<48} {status.get('phase', '?'):<10} "
            f"{ready}/{len(spec.get('containers') or statuses)} ready, {restarts} restarts, "
            f"node {spec.get('nodeName') or '-'}" + (f", waiting: {', '.join(waiting)}" if waiting else ""))


def _section(title: str, body: str) -> str:
    return f"== {title}\n{body.rstrip() or '(none)'}"


def collect(kube, ceph) -> str:
    """``kube``: the lab's :class:`~cephlab.k8s.kube.Kube`; ``ceph``: its toolbox runner."""
    parts = []
    cluster = kube.get_json("CephCluster", "rook-ceph", m.ROOK_NS)
    if cluster:
        st = cluster.get("status") or {}
        parts.append(_section("CephCluster rook-ceph", (
            f"phase {st.get('phase')}, state {st.get('state')}, message {st.get('message')!r}, "
            f"ceph health {(st.get('ceph') or {}).get('health')}")))
    pods = kube.get_json("Pod", namespace=m.ROOK_NS)
    parts.append(_section(f"pods in {m.ROOK_NS}", "\n".join(pod_line(p) for p in pods)))
    parts.append(_section(f"recent events in {m.ROOK_NS}", "\n".join(kube.events(m.ROOK_NS, 20))))
    failing = [p for p in pods if kube_checks.pod_problem(p)
               and (p.get("status") or {}).get("phase") != "Succeeded"]
    for pod in failing[:MAX_LOG_TAILS]:
        name = pod["metadata"]["name"]
        for c in (pod.get("status") or {}).get("containerStatuses") or []:
            if not c.get("ready"):
                crashed = c.get("restartCount", 0) > 0
                parts.append(_section(
                    f"log tail of {name}/{c.get('name')}" + (" (previous run)" if crashed else ""),
                    kube.pod_log(name, m.ROOK_NS, c.get("name"), tail=20, previous=crashed)))
    for pod in [p for p in pods if (p["metadata"].get("labels") or {}).get("app") == "rook-ceph-osd-prepare"]:
        name = pod["metadata"]["name"]
        parts.append(_section(f"provision log of {name}",
                              kube.pod_log(name, m.ROOK_NS, "provision", tail=15)))
    if kube.get_json("Deployment", m.TOOLBOX, m.ROOK_NS):
        res = ceph.run("status", check=False, timeout=20)
        parts.append(_section(f"ceph status (exit {res.rc})", res.stdout or res.stderr))
    return "\n\n".join(parts)
