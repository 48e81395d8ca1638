"""How the harness reaches a root shell on one of the lab's nodes: the host transport.

Every host operation of a plan (:mod:`cephlab.k8s.ops_host`: a command on a node, the
kubeadm join, the admin kubeconfig, a script run as root) names a node and says what to run
there; its transport says how that becomes an argv on this machine. The plan renders the
same argv into commands.sh that the engine runs, so what a person reads is what ran.

- :class:`VagrantSsh`: ``vagrant ssh NODE -c LINE`` (the vagrant target; the login user
  is not root, so root's commands carry ``sudo``);
- :class:`NodeExec`: a program that enters a node container's namespaces (the nodes
  target; the shell there is root already);
- :class:`KubectlDebug`: a privileged ``kubectl debug node/NODE`` pod chrooted to the host
  (an existing cluster, where the harness has no shell of its own).

Transports are frozen values: plans compare and print them.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Sequence


def quoted(argv: Sequence[str]) -> str:
    return shlex.join(list(argv))


@dataclass(frozen=True)
class Transport:
    """The base: a name for messages, and the three argv builders every transport has."""

    #: Whether commands run as an unprivileged login and need ``sudo`` for root.
    needs_sudo = False

    def as_root(self, argv: Sequence[str], sudo: bool = True) -> str:
        """The shell text that runs ``argv`` as root on the node (``sudo=False``: as the
        login user, where that differs)."""
        return ("sudo " if sudo and self.needs_sudo else "") + quoted(argv)

    def shell(self, node: str, line: str) -> list[str]:
        """The argv, on this machine, that runs the shell text ``line`` on ``node``."""
        raise NotImplementedError

    def script(self, node: str) -> list[str]:
        """The argv, on this machine, that runs a shell script read from stdin as root."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class VagrantSsh(Transport):
    needs_sudo = True

    def shell(self, node: str, line: str) -> list[str]:
        return ["vagrant", "ssh", node, "-c", line]

    def script(self, node: str) -> list[str]:
        return self.shell(node, "sudo sh -s")

    def describe(self) -> str:
        return "vagrant ssh"


@dataclass(frozen=True)
class NodeExec(Transport):
    """``program NODE sh -c LINE``: ``program`` enters the node container's namespaces as
    root (the nodes target writes it into the lab dir: ``<lab>/bin/node-exec``)."""

    program: str

    def shell(self, node: str, line: str) -> list[str]:
        return [self.program, node, "sh", "-c", line]

    def script(self, node: str) -> list[str]:
        return [self.program, node, "sh", "-s"]

    def describe(self) -> str:
        return f"{self.program} (into the node container)"


@dataclass(frozen=True)
class KubectlDebug(Transport):
    """A privileged debug pod on the node, chrooted to the host's root (``image`` must have
    ``chroot``, and is on the node already on a cluster that cannot pull)."""

    image: str

    def shell(self, node: str, line: str) -> list[str]:
        return [*self._debug(node), "sh", "-c", line]

    def script(self, node: str) -> list[str]:
        return [*self._debug(node), "sh", "-s"]

    def _debug(self, node: str) -> list[str]:
        return ["kubectl", "debug", f"node/{node}", "--profile=sysadmin", f"--image={self.image}",
                "-i", "--", "chroot", "/host"]

    def describe(self) -> str:
        return f"kubectl debug with {self.image}"


VAGRANT_SSH = VagrantSsh()

__all__ = ["KubectlDebug", "NodeExec", "Transport", "VAGRANT_SSH", "VagrantSsh", "quoted"]
