"""Plan operations on the Kubernetes API and in its workloads: apply (objects, upstream
manifests, Helm charts), waits, scale, delete, taint, read-only kubectl, exec, the Rook
toolbox. Each renders one commands.sh line; :mod:`cephlab.k8s.plan_runner` runs it."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Optional

from .objects import ROOK_NS, TOOLBOX, Obj
from .plan_ref import CEPH_CONNECT_TIMEOUT, TOOLBOX_EXEC, Ref, download_line, quoted, ref_of


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
    """Server-side apply of an upstream manifest by URL (what it creates: :mod:`.made_by_others`),
    downloaded first with retries."""
    url: str

    def render(self) -> str:
        local = f'"$STAGE/{self.url.rsplit("/", 1)[-1]}"'
        return f"{download_line(self.url, local)}\nkubectl apply --server-side -f {local}"


@dataclass(frozen=True)
class ApplyUrlEdited:
    """An upstream manifest with exact line substitutions made before it is applied, so a
    setting is part of what is applied (never patched in afterwards). Each ``old`` line must
    occur exactly once; the engine refuses the manifest otherwise."""
    url: str
    edits: tuple[tuple[str, str], ...]

    def render(self) -> str:
        local = f'"$STAGE/{self.url.rsplit("/", 1)[-1]}"'
        lines = [download_line(self.url, local)]
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
        return quoted(["helm", "upgrade", "--install", self.release, self.chart, "--namespace",
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
        return quoted(["kubectl", "-n", self.namespace, "scale", f"deploy/{self.name}",
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
        return quoted(["kubectl", *ns, "delete", *what, "--ignore-not-found"])


@dataclass(frozen=True)
class Taint:
    """Remove (``remove=True``) or add a taint on a node; removing an absent taint is not an
    error here (kubectl's is, which is why the render guards it)."""
    node: str
    taint: str
    remove: bool = True

    def render(self) -> str:
        arg = self.taint + ("-" if self.remove else "")
        line = quoted(["kubectl", "taint", "nodes", self.node, arg])
        return f"{line} || true" if self.remove else line


@dataclass(frozen=True)
class Kubectl:
    """A read-only kubectl call whose output is shown (``get``, ``version``); ``secret``:
    the output is a credential, checked non-empty and never shown."""
    argv: tuple[str, ...]
    secret: bool = False

    def render(self) -> str:
        line = quoted(["kubectl", *self.argv])
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
        return quoted(["kubectl", "-n", self.namespace, "exec", f"{short}/{self.name}", "--", *self.argv])


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
        return quoted([*TOOLBOX_EXEC, *self.command()])
