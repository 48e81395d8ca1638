"""Plan operations on hosts: HTTP checks, the VMs (vagrant up), commands on a node, the
kubeadm join, the admin kubeconfig, scripts run as root on a node, the OSD removal sequence,
notes. Each renders commands.sh lines; :mod:`cephlab.k8s.plan_runner` runs it. Every operation on
a node carries its :class:`~cephlab.k8s.transport.Transport` (``via``), which turns it into
the argv that both the plan shows and the engine runs."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Optional

from .objects import ROOK_NS
from .plan_ref import (CEPH_CONNECT_TIMEOUT, HTTP_MAX_TIME, HTTP_RETRIES, HTTP_RETRY_DELAY,
                       TOOLBOX_EXEC, quoted)
from .transport import VAGRANT_SSH, Transport


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
        return quoted(self.argv())


@dataclass(frozen=True)
class VagrantUp:
    provider: str

    def render(self) -> str:
        return f"vagrant up --provider={self.provider}"


@dataclass(frozen=True)
class Ssh:
    """A command on a node, as root (``sudo=False``: as the transport's login user);
    ``unless_exists``: skipped when the node has that file (kubeadm init/join made it), so
    the step is safe to run twice."""
    node: str
    argv: tuple[str, ...]
    unless_exists: Optional[str] = None
    sudo: bool = True
    via: Transport = VAGRANT_SSH

    def remote(self) -> str:
        line = self.via.as_root(self.argv, self.sudo)
        if self.unless_exists:
            line = f"{self.via.as_root(('test', '-e', self.unless_exists))} || {line}"
        return line

    def host_argv(self) -> list[str]:
        return self.via.shell(self.node, self.remote())

    def render(self) -> str:
        return quoted(self.host_argv())


@dataclass(frozen=True)
class KubeadmJoin:
    """Every node of ``nodes`` joins the control plane on ``first``; a node that has
    kubelet.conf has joined already and is left alone. The join command (it carries a
    bootstrap token) is made at run time and stays in a variable."""
    first: str
    nodes: tuple[str, ...]
    guard: str = "/etc/kubernetes/kubelet.conf"
    via: Transport = VAGRANT_SSH

    def token_command(self) -> Ssh:
        return Ssh(self.first, ("kubeadm", "token", "create", "--print-join-command"), via=self.via)

    def join_line(self, join: str) -> str:
        """The root shell text on a joining node, ``join`` being the printed join command."""
        sudo = "sudo " if self.via.needs_sudo else ""
        guard = f"{self.via.as_root(('test', '-e', self.guard))} || " if self.guard else ""
        return f"{guard}{sudo}{join}"

    def render(self) -> str:
        lines = ["# the join command carries a bootstrap token: it stays in a shell variable",
                 "JOIN_CMD=\"$(" + self.token_command().render() + " | tr -d '\\r')\""]
        line = self.join_line("$JOIN_CMD")     # the last argument, expanded by the local shell
        lines += [f'{quoted(self.via.shell(n, line)[:-1])} "{line}"' for n in self.nodes]
        return "\n".join(lines)


@dataclass(frozen=True)
class FetchKubeconfig:
    """The admin kubeconfig of ``node`` into ``$KUBECONFIG`` (mode 0600). ``server``: the
    API server's URL as this machine reaches it, written in place of the one kubeadm wrote
    (None: that one is reachable from here, as a VM's private address is)."""
    node: str
    path: str = "/etc/kubernetes/admin.conf"
    via: Transport = VAGRANT_SSH
    server: Optional[str] = None

    def read_command(self) -> Ssh:
        return Ssh(self.node, ("cat", self.path), via=self.via)

    def render(self) -> str:
        sed = "s#^( *server: ).*#\\1" + (self.server or "") + "#"
        point = f" | sed -E {shlex.quote(sed)}" if self.server else ""
        return (self.read_command().render() + " | tr -d '\\r'" + point + ' > "$KUBECONFIG"\n'
                'chmod 600 "$KUBECONFIG"')


@dataclass(frozen=True)
class NodeScript:
    """A script of the stage directory run as root on a node, over its transport (``vagrant
    ssh``, the node container's exec, or a privileged ``kubectl debug`` pod chrooted to the
    host on an existing cluster)."""
    node: str
    name: str
    text: str = field(repr=False)
    via: Transport = VAGRANT_SSH

    def argv(self) -> list[str]:
        return self.via.script(self.node)

    def render(self) -> str:
        return f'{quoted(self.argv())} < "$STAGE/{self.name}"'


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
