"""Pure assertion functions over Kubernetes API objects as plain dicts.

The dicts have the shape ``kubectl get -o json`` (or
``ApiClient().sanitize_for_serialization(obj)``) gives: camelCase keys, ``status`` as the
API server reports it. Like :mod:`cephlab.ceph_checks`, every ``assert_*`` does no I/O,
returns something useful when the expectation holds and raises ``AssertionError`` naming
what is wrong when it does not, so it serves both as a plain assertion and as a wait probe.

A pod stuck in a state that cannot heal by waiting (image pull back-off, crash loop, a bad
container config) or a failed Job raises :class:`PodFailed`, a ``DaemonExited``: waits
stop at once instead of running into their timeout.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

from ..errors import DaemonExited

Obj = Mapping[str, Any]

#: Waiting reasons that do not heal by waiting. CrashLoopBackOff counts only after
#: ``CRASHLOOP_RESTARTS`` restarts: a daemon may crash once while its peers start.
TERMINAL_WAITING = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                    "CreateContainerConfigError", "CreateContainerError")
CRASHLOOP_RESTARTS = 3


class PodFailed(DaemonExited):
    """A pod or Job of the lab failed in a way that waiting cannot fix."""


def _name(o: Obj) -> str:
    return (o.get("metadata") or {}).get("name", "?")


def _ns_name(o: Obj) -> str:
    meta = o.get("metadata") or {}
    return f"{meta['namespace']}/{meta.get('name', '?')}" if meta.get("namespace") else _name(o)


def _conditions(o: Obj) -> dict[str, Mapping[str, Any]]:
    return {c.get("type", "?"): c for c in (o.get("status") or {}).get("conditions") or []}


def _with_tail(message: str, log_tail: str) -> str:
    tail = (log_tail or "").strip()
    return f"{message}\n--- log tail ---\n{tail}" if tail else message


# ---------------------------------------------------------------------------- nodes
def nodes_by_name(nodes: Iterable[Obj]) -> dict[str, Obj]:
    return {_name(n): n for n in nodes}


def node_ready(node: Obj) -> bool:
    return _conditions(node).get("Ready", {}).get("status") == "True"


def node_internal_ip(node: Obj) -> Optional[str]:
    for addr in (node.get("status") or {}).get("addresses") or []:
        if addr.get("type") == "InternalIP":
            return addr.get("address")
    return None


def assert_nodes_registered(nodes: Iterable[Obj], names: Iterable[str]) -> dict[str, Obj]:
    """Every node in ``names`` is registered. Returns name -> node for those."""
    have = nodes_by_name(nodes)
    missing = [n for n in names if n not in have]
    assert not missing, (f"nodes not registered: {', '.join(missing)} "
                         f"(registered: {', '.join(sorted(have)) or 'none'})")
    return {n: have[n] for n in names}


def assert_nodes_ready(nodes: Iterable[Obj], names: Iterable[str]) -> list[str]:
    """Every node in ``names`` is registered and Ready. Returns the names."""
    names = list(names)
    found = assert_nodes_registered(nodes, names)
    problems = []
    for name, node in found.items():
        if not node_ready(node):
            cond = _conditions(node).get("Ready", {})
            problems.append(f"{name} is NotReady ({cond.get('reason') or 'no Ready condition'}"
                            f"{': ' + cond['message'] if cond.get('message') else ''})")
    assert not problems, "; ".join(problems)
    return names


def assert_internal_ips(nodes: Iterable[Obj], expected: Mapping[str, str]) -> dict[str, str]:
    """Each node's InternalIP equals ``expected[node]``. Returns node -> InternalIP."""
    found = assert_nodes_registered(nodes, expected)
    seen = {name: node_internal_ip(node) for name, node in found.items()}
    wrong = [f"{n} has InternalIP {seen[n] or 'none'}, expected {want}"
             for n, want in expected.items() if seen[n] != want]
    assert not wrong, "; ".join(wrong)
    # past the assert every address equals its expected one, so none of them is None
    return {n: ip for n, ip in seen.items() if ip is not None}


def assert_no_taint(node: Obj, effect: str = "NoSchedule") -> list[Mapping[str, Any]]:
    """The node carries no taint with ``effect``. Returns its (other) taints."""
    taints = list((node.get("spec") or {}).get("taints") or [])
    bad = [f"{t.get('key')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect')}"
           for t in taints if t.get("effect") == effect]
    assert not bad, f"node {_name(node)} carries {effect} taint(s): {', '.join(bad)}"
    unschedulable = (node.get("spec") or {}).get("unschedulable")
    assert not unschedulable, f"node {_name(node)} is cordoned (spec.unschedulable)"
    return taints


# ---------------------------------------------------------------------------- pods
def select_pods(pods: Iterable[Obj], selector: Mapping[str, str]) -> list[Obj]:
    """Pods whose labels include every ``key: value`` of ``selector``."""
    return [p for p in pods
            if all(((p.get("metadata") or {}).get("labels") or {}).get(k) == v
                   for k, v in selector.items())]


def _statuses(pod: Obj) -> list[Mapping[str, Any]]:
    status = pod.get("status") or {}
    return list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or [])


def pod_problem(pod: Obj) -> Optional[str]:
    """Why the pod is not Running with every container ready (None: it is)."""
    status = pod.get("status") or {}
    phase = status.get("phase", "Unknown")
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return f"pod {_name(pod)} is terminating"
    if phase != "Running":
        reason = status.get("reason") or _conditions(pod).get("PodScheduled", {}).get("message")
        waiting = [f"{c.get('name')}: {(c.get('state') or {}).get('waiting', {}).get('reason')}"
                   for c in _statuses(pod) if (c.get("state") or {}).get("waiting")]
        extra = "; ".join(filter(None, [reason, *waiting]))
        return f"pod {_name(pod)} is {phase}" + (f" ({extra})" if extra else "")
    unready = [c.get("name", "?") for c in status.get("containerStatuses") or [] if not c.get("ready")]
    if unready or not status.get("containerStatuses"):
        return f"pod {_name(pod)} is Running but not ready (containers not ready: " \
               f"{', '.join(unready) or 'no status yet'})"
    return None


def assert_pods_ready(pods: Iterable[Obj], what: str, *, count: Optional[int] = None,
                      minimum: int = 1) -> list[str]:
    """The pods (already selected, e.g. by a label selector) are Running with every container
    ready: exactly ``count`` of them, or at least ``minimum``. Returns their names."""
    pods = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded",)]
    problems = [msg for msg in map(pod_problem, pods) if msg]
    if count is not None and len(pods) != count:
        problems.insert(0, f"{len(pods)} pods, expected {count}")
    elif count is None and len(pods) < minimum:
        problems.insert(0, f"{len(pods)} pods, expected at least {minimum}")
    assert not problems, f"{what}: " + "; ".join(problems)
    return [_name(p) for p in pods]


def terminal_pod_states(pods: Iterable[Obj], crashloop_restarts: int = CRASHLOOP_RESTARTS
                        ) -> list[tuple[str, str, str, str]]:
    """(pod, container, reason, message) of every container stuck in a terminal state."""
    found = []
    for pod in pods:
        for c in _statuses(pod):
            waiting = (c.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason")
            if reason not in TERMINAL_WAITING:
                continue
            if reason == "CrashLoopBackOff" and c.get("restartCount", 0) < crashloop_restarts:
                continue
            if reason == "CrashLoopBackOff":
                last = (c.get("lastState") or {}).get("terminated") or {}
                msg = (f"restarted {c.get('restartCount', 0)} times; last exit code "
                       f"{last.get('exitCode', '?')} ({last.get('reason') or 'no reason'})")
            else:
                msg = waiting.get("message") or ""
                if c.get("image") and c["image"] not in msg:
                    msg = f"image {c['image']}" + (f": {msg}" if msg else "")
            found.append((_ns_name(pod), c.get("name", "?"), reason, msg))
    return found


def assert_no_terminal_pod_state(pods: Iterable[Obj], log_tail: str = "",
                                 crashloop_restarts: int = CRASHLOOP_RESTARTS) -> None:
    """No container is in CrashLoopBackOff (past a few restarts), ImagePullBackOff,
    ErrImagePull, InvalidImageName or CreateContainer*Error. Raises :class:`PodFailed`
    naming pod, container and reason, with ``log_tail`` (of the first one) appended."""
    found = terminal_pod_states(pods, crashloop_restarts)
    if found:
        lines = [f"pod {pod} container {cont}: {reason}" + (f" — {msg}" if msg else "")
                 for pod, cont, reason, msg in found]
        raise PodFailed(_with_tail("waiting cannot help: " + "; ".join(lines), log_tail))


# ---------------------------------------------------------------------------- jobs
def job_failed(job: Obj) -> bool:
    return _conditions(job).get("Failed", {}).get("status") == "True"


def assert_job_not_failed(job: Obj, log_tail: str = "", container: str = "") -> None:
    """Raise :class:`PodFailed` when the Job has failed (e.g. rook-ceph-osd-prepare-<node>,
    whose ``provision`` container log says why a disk was not used)."""
    if job_failed(job):
        cond = _conditions(job)["Failed"]
        failed = (job.get("status") or {}).get("failed", 0)
        where = f" (container {container})" if container else ""
        raise PodFailed(_with_tail(
            f"job {_ns_name(job)} failed: {cond.get('reason') or 'no reason'}"
            f"{': ' + cond['message'] if cond.get('message') else ''}; {failed} failed pod(s)"
            f"{where}", log_tail))


def assert_job_complete(job: Obj) -> int:
    """The Job completed (and did not fail). Returns its succeeded count."""
    assert_job_not_failed(job)
    status = job.get("status") or {}
    assert _conditions(job).get("Complete", {}).get("status") == "True", (
        f"job {_ns_name(job)} not complete (active {status.get('active', 0)}, "
        f"succeeded {status.get('succeeded', 0)}, failed {status.get('failed', 0)})")
    return int(status.get("succeeded", 0))


# ---------------------------------------------------------------------------- workloads
def assert_deployment_available(deploy: Obj) -> int:
    """Rolled out: the controller saw the newest spec and every replica is updated and ready.
    Returns the ready replica count."""
    spec, status = deploy.get("spec") or {}, deploy.get("status") or {}
    want = spec.get("replicas", 1)
    generation = (deploy.get("metadata") or {}).get("generation", 0)
    problems = []
    if status.get("observedGeneration", 0) < generation:
        problems.append("the controller has not seen the newest spec yet")
    for key in ("updatedReplicas", "readyReplicas", "availableReplicas"):
        if status.get(key, 0) < want:
            problems.append(f"{key} {status.get(key, 0)}/{want}")
    assert not problems, f"deployment {_ns_name(deploy)} not rolled out: " + "; ".join(problems)
    return int(status.get("readyReplicas", 0))


def assert_daemonset_ready(ds: Obj) -> int:
    """Rolled out: the newest spec seen, a pod scheduled on every node it wants, all updated
    and ready. Returns the ready count."""
    status = ds.get("status") or {}
    generation = (ds.get("metadata") or {}).get("generation", 0)
    want = status.get("desiredNumberScheduled", 0)
    problems = []
    if status.get("observedGeneration", 0) < generation:
        problems.append("the controller has not seen the newest spec yet")
    if not want:
        problems.append("no node wants a pod yet")
    for key in ("updatedNumberScheduled", "numberReady"):
        if status.get(key, 0) < want:
            problems.append(f"{key} {status.get(key, 0)}/{want}")
    assert not problems, f"daemonset {_ns_name(ds)} not rolled out: " + "; ".join(problems)
    return int(status.get("numberReady", 0))


def assert_pvc_bound(pvc: Obj) -> str:
    """The claim is Bound. Returns the volume name."""
    status = pvc.get("status") or {}
    phase = status.get("phase", "Unknown")
    assert phase == "Bound", (
        f"PVC {_ns_name(pvc)} is {phase}, not Bound (storage class "
        f"{(pvc.get('spec') or {}).get('storageClassName')!r})")
    return (pvc.get("spec") or {}).get("volumeName", "")


def assert_condition(o: Obj, condition: str) -> Mapping[str, Any]:
    """``status.conditions[type=condition]`` is True (pod Ready, CRD Established, …)."""
    cond = _conditions(o).get(condition)
    assert cond and cond.get("status") == "True", (
        f"{o.get('kind', 'object')} {_ns_name(o)}: condition {condition} is "
        f"{cond.get('status') if cond else 'absent'}"
        + (f" ({cond.get('reason')}: {cond.get('message')})" if cond and cond.get("reason") else ""))
    return cond


# ---------------------------------------------------------------------------- Rook, storage
def assert_cr_phase(cr: Obj, phase: str = "Ready") -> str:
    """A Rook custom resource's ``.status.phase`` is ``phase`` (CephCluster Ready,
    CephBlockPool/CephFilesystem/CephObjectStore Ready, ObjectBucketClaim Bound)."""
    status = cr.get("status") or {}
    seen = status.get("phase")
    if seen != phase:
        details = [f"{k} {status[k]!r}" for k in ("state", "message") if status.get(k)]
        health = (status.get("ceph") or {}).get("health")
        if health:
            details.append(f"ceph health {health}")
        raise AssertionError(
            f"{cr.get('kind', 'resource')} {_ns_name(cr)} phase is {seen or 'not reported yet'}, "
            f"expected {phase}" + (f" ({', '.join(details)})" if details else ""))
    return seen


def assert_crds_registered(crds: Iterable[Obj], plurals: Iterable[str],
                           group: str = "ceph.rook.io") -> list[str]:
    """Each ``<plural>.<group>`` CRD exists and is Established. Returns the CRD names."""
    have = {_name(c): c for c in crds}
    names = [f"{p}.{group}" for p in plurals]
    problems = []
    for name in names:
        if name not in have:
            problems.append(f"{name} not registered")
        elif _conditions(have[name]).get("Established", {}).get("status") != "True":
            problems.append(f"{name} not Established yet")
    assert not problems, "; ".join(problems) + (
        f" (CRDs of {group}: {', '.join(sorted(n for n in have if n.endswith('.' + group))) or 'none'})")
    return names


def assert_storage_class(sc: Optional[Obj], provisioner: str, **parameters: str) -> Obj:
    """The StorageClass exists with ``provisioner`` and the given ``parameters``."""
    assert sc, f"StorageClass missing (expected provisioner {provisioner})"
    problems = []
    if sc.get("provisioner") != provisioner:
        problems.append(f"provisioner {sc.get('provisioner')!r}, expected {provisioner!r}")
    params = sc.get("parameters") or {}
    problems += [f"parameter {k}={params.get(k)!r}, expected {v!r}"
                 for k, v in parameters.items() if params.get(k) != v]
    assert not problems, f"StorageClass {_name(sc)}: " + "; ".join(problems)
    return sc
