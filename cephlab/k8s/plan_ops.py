"""The operations a stage plan is made of: typed, each with one ``render()`` for commands.sh.

A plan (:class:`StagePlan`) is a list of these, built with every address, node and device
already in its fields (:mod:`cephlab.k8s.plan_build`). Three readers walk the same list:

- :mod:`cephlab.k8s.plan` writes ``render()`` of each op into commands.sh (arguments quoted
  with :func:`shlex.join`; run-time values such as the join command or an OSD id live in
  shell variables, never in the plan);
- :mod:`cephlab.k8s.engine` runs each op through its own method (one per op type), in Python
  where it can (apply, waits) and as an argv list where it must (kubectl, vagrant, curl);
- :mod:`cephlab.k8s.plan_check` replays the ops against a model of the cluster.

Nothing here runs anything.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Optional, Union

from ..stages import Stage
from .objects import ROOK_NS, TOOLBOX, Obj

#: The one place for how the plan reaches the Ceph CLI: ``kubectl exec`` into the toolbox.
TOOLBOX_EXEC = ("kubectl", "-n", ROOK_NS, "exec", f"deploy/{TOOLBOX}", "--")
#: ``ceph`` gives up on unreachable mons after this long (item 12 of the upstream review: a
#: command killed at kubectl's timeout must not keep running in the pod).
CEPH_CONNECT_TIMEOUT = 15
#: curl after a NodePort Service: kube-proxy and the backing pod may lag the apply.
HTTP_RETRIES, HTTP_RETRY_DELAY, HTTP_MAX_TIME = 20, 6, 10


def _q(argv) -> str:
    return shlex.join(str(a) for a in argv)


@dataclass(frozen=True)
class Ref:
    """An object by kind, namespace (None: cluster-scoped) and name."""
    kind: str
    name: str
    namespace: Optional[str] = None

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


def ref_of(obj: Obj) -> Ref:
    meta = obj["metadata"]
    return Ref(obj["kind"], meta["name"], meta.get("namespace"))


# ---------------------------------------------------------------------------- Kubernetes
@dataclass(frozen=True)
class Apply:
    """Server-side apply of one of the plan's own objects (Secrets: created when absent,
    never overwritten)."""
    obj: Obj = field(hash=False, compare=False)
    file: str = ""

    @property
    def ref(self) -> Ref:
        return ref_of(self.obj)

    def render(self) -> str:
        path = f'"$STAGE/{self.file}"'
        if self.obj["kind"] == "Secret":
            r = self.ref
            return (f"kubectl -n {r.namespace} get secret {r.name} >/dev/null 2>&1 || "
                    f"kubectl create -f {path}")
        return f"kubectl apply --server-side --field-manager=cephlab -f {path}"


@dataclass(frozen=True)
class ApplyUrl:
    """Server-side apply of an upstream manifest by URL (what it creates: :mod:`.provided`)."""
    url: str

    def render(self) -> str:
        return _q(["kubectl", "apply", "--server-side", "-f", self.url])


@dataclass(frozen=True)
class ApplyUrlEdited:
    """An upstream manifest with exact line substitutions made before it is applied, so a
    setting is part of what is applied (never patched in afterwards). Each ``old`` line must
    occur exactly once; the engine refuses the manifest otherwise."""
    url: str
    edits: tuple[tuple[str, str], ...]

    def render(self) -> str:
        local = f'"$STAGE/{self.url.rsplit("/", 1)[-1]}"'
        lines = [f"curl -fsSL {shlex.quote(self.url)} -o {local}"]
        for old, new in self.edits:
            lines += [f"test \"$(grep -cxF {shlex.quote(old)} {local})\" = 1   # exactly once",
                      f"sed -i -e {shlex.quote('s|^' + old + '$|' + new + '|')} {local}"]
        return "\n".join(lines + [f"kubectl apply --server-side -f {local}"])


@dataclass(frozen=True)
class HelmInstall:
    release: str
    chart: str
    namespace: str
    timeout: str = "10m"

    def render(self) -> str:
        return _q(["helm", "upgrade", "--install", self.release, self.chart, "--namespace",
                   self.namespace, "--create-namespace", "--wait", "--timeout", self.timeout])


@dataclass(frozen=True)
class WaitPhase:
    """A custom resource's ``.status.phase`` reaches ``phase``."""
    kind: str
    name: str
    namespace: Optional[str]
    phase: str
    timeout: int

    @property
    def ref(self) -> Ref:
        return Ref(self.kind, self.name, self.namespace)

    def render(self) -> str:
        return (f"kubectl -n {self.namespace} wait {self.kind.lower()}/{self.name} "
                f"--for=jsonpath='{{.status.phase}}'={self.phase} --timeout={self.timeout}s")


@dataclass(frozen=True)
class WaitCondition:
    """An object's condition ``condition`` is True (a Job's Complete, a Pod's Ready, a CRD's
    Established)."""
    kind: str
    name: str
    namespace: Optional[str]
    condition: str
    timeout: int

    @property
    def ref(self) -> Ref:
        return Ref(self.kind, self.name, self.namespace)

    def render(self) -> str:
        ns = f"-n {self.namespace} " if self.namespace else ""
        return (f"kubectl {ns}wait {self.kind.lower()}/{self.name} "
                f"--for=condition={self.condition} --timeout={self.timeout}s")


@dataclass(frozen=True)
class WaitNodesReady:
    timeout: int

    def render(self) -> str:
        return f"kubectl wait node --all --for=condition=Ready --timeout={self.timeout}s"


@dataclass(frozen=True)
class Rollout:
    """A Deployment or DaemonSet has rolled out."""
    kind: str
    name: str
    namespace: str
    timeout: int

    @property
    def ref(self) -> Ref:
        return Ref(self.kind, self.name, self.namespace)

    def render(self) -> str:
        short = {"Deployment": "deploy", "DaemonSet": "daemonset"}[self.kind]
        return (f"kubectl -n {self.namespace} rollout status {short}/{self.name} "
                f"--timeout={self.timeout}s")


@dataclass(frozen=True)
class WaitCount:
    """At least ``at_least`` objects of a kind match a label selector."""
    kind: str
    namespace: str
    selector: str
    at_least: int
    timeout: int

    def render(self) -> str:
        count = (f'"$(kubectl -n {self.namespace} get {self.kind.lower()} -l {self.selector} '
                 f'--no-headers | wc -l)"')
        inner = f"until [ {count} -ge {self.at_least} ]; do sleep 15; done"
        return f"timeout {self.timeout} sh -c {shlex.quote(inner)}"


@dataclass(frozen=True)
class Scale:
    name: str
    namespace: str
    replicas: int

    @property
    def ref(self) -> Ref:
        return Ref("Deployment", self.name, self.namespace)

    def render(self) -> str:
        return _q(["kubectl", "-n", self.namespace, "scale", f"deploy/{self.name}",
                   f"--replicas={self.replicas}"])


@dataclass(frozen=True)
class Delete:
    """Delete objects by name or label selector; absent ones are not an error."""
    kind: str
    namespace: Optional[str]
    name: Optional[str] = None
    selector: Optional[str] = None

    def __post_init__(self) -> None:
        if (self.name is None) == (self.selector is None):
            raise ValueError("Delete takes a name or a selector")

    def render(self) -> str:
        ns = ["-n", self.namespace] if self.namespace else []
        what = [f"{self.kind.lower()}/{self.name}"] if self.name else [self.kind.lower(), "-l", self.selector]
        return _q(["kubectl", *ns, "delete", *what, "--ignore-not-found"])


@dataclass(frozen=True)
class Taint:
    """Remove (``remove=True``) or add a taint on a node; removing an absent taint is not an
    error here (kubectl's is, which is why the render guards it)."""
    node: str
    taint: str
    remove: bool = True

    def render(self) -> str:
        arg = self.taint + ("-" if self.remove else "")
        line = _q(["kubectl", "taint", "nodes", self.node, arg])
        return f"{line} || true" if self.remove else line


@dataclass(frozen=True)
class Kubectl:
    """A read-only kubectl call whose output is shown (``get``, ``version``); ``secret``:
    the output is a credential, checked non-empty and never shown."""
    argv: tuple[str, ...]
    secret: bool = False

    def render(self) -> str:
        line = _q(["kubectl", *self.argv])
        return f'test -n "$({line})"' if self.secret else line


@dataclass(frozen=True)
class Exec:
    """A command inside a running workload (``deploy/NAME`` or ``pod/NAME``)."""
    kind: str
    name: str
    namespace: str
    argv: tuple[str, ...]

    @property
    def ref(self) -> Ref:
        return Ref(self.kind, self.name, self.namespace)

    def render(self) -> str:
        short = {"Deployment": "deploy", "Pod": "pod"}[self.kind]
        return _q(["kubectl", "-n", self.namespace, "exec", f"{short}/{self.name}", "--", *self.argv])


@dataclass(frozen=True)
class Toolbox:
    """A Ceph command in the Rook toolbox (``tool`` ceph, rados, rbd)."""
    argv: tuple[str, ...]
    tool: str = "ceph"

    @property
    def ref(self) -> Ref:
        return Ref("Deployment", TOOLBOX, ROOK_NS)

    def command(self) -> list[str]:
        extra = ["--connect-timeout", str(CEPH_CONNECT_TIMEOUT)] if self.tool == "ceph" else []
        return [self.tool, *extra, *self.argv]

    def render(self) -> str:
        return _q([*TOOLBOX_EXEC, *self.command()])


# ---------------------------------------------------------------------------- hosts
@dataclass(frozen=True)
class HttpCheck:
    """``url`` answers (any HTTP status unless ``ok_status``), retried with a bound while
    the port is not yet programmed or the backend restarts."""
    url: str
    insecure: bool = False
    path_ok: bool = False     #: True: the status must be 2xx (curl -f)

    def argv(self) -> list[str]:
        return ["curl", "-s", *(["-k"] if self.insecure else []), *(["-f"] if self.path_ok else []),
                "-o", "/dev/null", "-w", "%{http_code}\\n", "--retry", str(HTTP_RETRIES),
                "--retry-connrefused", "--retry-all-errors", "--retry-delay", str(HTTP_RETRY_DELAY),
                "--max-time", str(HTTP_MAX_TIME), self.url]

    def render(self) -> str:
        return _q(self.argv())


@dataclass(frozen=True)
class VagrantUp:
    provider: str

    def render(self) -> str:
        return f"vagrant up --provider={self.provider}"


@dataclass(frozen=True)
class Ssh:
    """A command on a VM over ``vagrant ssh`` (as root); ``unless_exists``: skipped when the
    node has that file (kubeadm init/join made it), so the step is safe to run twice."""
    node: str
    argv: tuple[str, ...]
    unless_exists: Optional[str] = None
    sudo: bool = True

    def remote(self) -> str:
        line = _q((["sudo"] if self.sudo else []) + list(self.argv))
        if self.unless_exists:
            line = f"sudo test -e {shlex.quote(self.unless_exists)} || {line}"
        return line

    def render(self) -> str:
        return _q(["vagrant", "ssh", self.node, "-c", self.remote()])


@dataclass(frozen=True)
class KubeadmJoin:
    """Every node of ``nodes`` joins the control plane on ``first``; a node that has
    kubelet.conf has joined already and is left alone. The join command (it carries a
    bootstrap token) is made at run time and stays in a variable."""
    first: str
    nodes: tuple[str, ...]
    guard: str = "/etc/kubernetes/kubelet.conf"

    def token_argv(self) -> tuple[str, ...]:
        return ("kubeadm", "token", "create", "--print-join-command")

    def render(self) -> str:
        lines = ["# the join command carries a bootstrap token: it stays in a shell variable",
                 "JOIN_CMD=\"$(" + Ssh(self.first, self.token_argv()).render() + " | tr -d '\\r')\""]
        lines += [f'vagrant ssh {n} -c "sudo test -e {self.guard} || sudo $JOIN_CMD"' for n in self.nodes]
        return "\n".join(lines)


@dataclass(frozen=True)
class FetchKubeconfig:
    node: str
    path: str = "/etc/kubernetes/admin.conf"

    def render(self) -> str:
        return (Ssh(self.node, ("cat", self.path)).render() + " | tr -d '\\r' > \"$KUBECONFIG\"\n"
                'chmod 600 "$KUBECONFIG"')


@dataclass(frozen=True)
class NodeScript:
    """A script of the stage directory run as root on a node: over ``vagrant ssh`` or, on an
    existing cluster, in a privileged ``kubectl debug`` pod chrooted to the host."""
    node: str
    name: str
    text: str = field(repr=False)
    via: str = "vagrant"                 #: vagrant | debug
    image: str = ""

    def argv(self) -> list[str]:
        if self.via == "vagrant":
            return ["vagrant", "ssh", self.node, "-c", "sudo sh -s"]
        return ["kubectl", "debug", f"node/{self.node}", "--profile=sysadmin", f"--image={self.image}",
                "-i", "--", "chroot", "/host", "sh", "-s"]

    def render(self) -> str:
        return f'{_q(self.argv())} < "$STAGE/{self.name}"'


@dataclass(frozen=True)
class RemoveOsds:
    """Take every OSD of CRUSH host ``crush_host`` out of the cluster, in Ceph's safe order:
    out → wait until safe-to-destroy → stop its deployment → wait until its pods are gone
    (a running daemon marks itself up again) → down → purge → CRUSH host removed →
    deployments deleted. The OSD ids are read from CRUSH at run time; a host without OSDs
    (the stage run again) has nothing to remove."""
    crush_host: str
    drain_timeout: int = 3600
    stop_timeout: int = 600

    def render(self) -> str:
        t = " ".join(TOOLBOX_EXEC)
        ceph = f"{t} ceph --connect-timeout {CEPH_CONNECT_TIMEOUT}"
        host = shlex.quote(self.crush_host)
        return "\n".join([
            "# no OSD left on the host (a second run): every loop below does nothing",
            f"OSD_IDS=\"$({ceph} osd ls-tree {host} | tr -d '\\r')\"",
            "# out first, while the OSDs still run: k8s-fs-data0 has failure domain osd, so both",
            "# copies of a PG can sit on one host; stopping its OSDs first would strand them",
            f"for id in $OSD_IDS; do {ceph} osd out osd.$id; done",
            f"for id in $OSD_IDS; do timeout {self.drain_timeout} sh -c \"until {ceph} osd "
            "safe-to-destroy osd.$id; do sleep 15; done\"; done",
            f"for id in $OSD_IDS; do kubectl -n {ROOK_NS} scale deploy/rook-ceph-osd-$id --replicas=0; done",
            "# a daemon still running marks itself up again: wait until its pod is gone",
            f"for id in $OSD_IDS; do timeout {self.stop_timeout} sh -c \"while kubectl -n {ROOK_NS} "
            "get pod -l ceph-osd-id=$id --no-headers | grep -q .; do sleep 5; done\"; done",
            f"for id in $OSD_IDS; do {ceph} osd down osd.$id; done",
            f"for id in $OSD_IDS; do {ceph} osd purge $id --yes-i-really-mean-it; done",
            f"{ceph} osd crush rm {host}",
            f"for id in $OSD_IDS; do kubectl -n {ROOK_NS} delete deploy/rook-ceph-osd-$id "
            "--ignore-not-found; done",
        ])


@dataclass(frozen=True)
class Note:
    """A comment in commands.sh; the engine logs it."""
    text: str

    def render(self) -> str:
        return "\n".join(f"# {line}" for line in self.text.splitlines())


Op = Union[Apply, ApplyUrl, ApplyUrlEdited, HelmInstall, WaitPhase, WaitCondition, WaitNodesReady,
           Rollout, WaitCount, Scale, Delete, Taint, Kubectl, Exec, Toolbox, HttpCheck, VagrantUp, Ssh,
           KubeadmJoin, FetchKubeconfig, NodeScript, RemoveOsds, Note]
OP_TYPES = Op.__args__


@dataclass
class StagePlan:
    """One stage's operations, in order; ``stage`` is the one stage table's entry."""
    stage: Stage
    ops: list = field(default_factory=list)

    @property
    def slug(self) -> str:
        return self.stage.slug

    @property
    def dirname(self) -> str:
        return f"{self.stage.key}_{self.stage.slug}"

    def applies(self) -> list[Apply]:
        return [op for op in self.ops if isinstance(op, Apply)]

    @property
    def objects(self) -> list[Obj]:
        return [op.obj for op in self.applies()]

    @property
    def scripts(self) -> dict[str, str]:
        return {op.name: op.text for op in self.ops if isinstance(op, NodeScript)}

    def apply(self, *objects: Obj) -> None:
        for o in objects:
            index = len(self.objects) + 1
            self.ops.append(Apply(o, f"{index:02d}-{o['kind'].lower()}-{o['metadata']['name']}.yaml"))

    def add(self, *ops) -> None:
        for op in ops:
            if not isinstance(op, OP_TYPES):
                raise TypeError(f"not a plan operation: {op!r}")
            self.ops.append(op)

    def render(self) -> str:
        return "\n".join(op.render() for op in self.ops)
