"""One interface that runs Ceph's own command-line tools; the transport differs by target.

``LocalCeph`` runs ``ceph -c <lab>/ceph.conf …`` on this machine (or inside the root of the
lab's Ceph release); ``ToolboxCeph`` runs the
same argv inside the Rook toolbox with ``kubectl exec``. Everything above this module
(checks, steps) sees only :meth:`CephRunner.run` and :meth:`CephRunner.json`.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from . import ceph_server, profile
from .errors import CommandError, LabError
from .k8s.objects import ROOK_NS, TOOLBOX

#: The Ceph tools a runner may be asked to run (``tool=``). Each takes ``-c CONF`` after its name.
CEPH_TOOLS = ("ceph", "rados", "rbd", "radosgw-admin")


@dataclass
class CommandResult:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str
    raw: bytes = b""  #: stdout as bytes, kept when the run asked for ``binary=True``

    def check(self) -> "CommandResult":
        if self.rc != 0:
            raise CommandError(self.argv, self.rc, self.stdout, self.stderr)
        return self


class CephRunner:
    """Base: builds nothing itself; subclasses turn a Ceph argv into the argv to execute."""

    timeout: float = 60.0

    def command(self, argv: Sequence[str]) -> list[str]:
        raise NotImplementedError

    def run(self, *args: str, tool: str = "ceph", check: bool = True,
            timeout: float | None = None, stdin: bytes | None = None,
            binary: bool = False) -> CommandResult:
        """Run ``TOOL ARGS…`` (``ceph`` unless told otherwise) through this transport."""
        if tool not in CEPH_TOOLS:
            raise LabError(f"not a Ceph tool: {tool!r} (expected one of {', '.join(CEPH_TOOLS)})")
        full = self.command([tool, *args])
        start = time.monotonic()
        try:
            rc, out, err = self.execute(full, tool, args, stdin, timeout or self.timeout)
        finally:
            profile.record("ceph", profile.command_name([tool, *args]), time.monotonic() - start)
        if binary:
            result = CommandResult(full, rc, "", _text(err), out)
        else:
            result = CommandResult(full, rc, _text(out), _text(err))
        return result.check() if check else result

    def execute(self, full: list[str], tool: str, args: Sequence[str], stdin: bytes | None,
                timeout: float) -> tuple[int, bytes, bytes | str]:
        """Run the command ``full`` (``tool args`` through the transport): exit code,
        stdout, stderr."""
        try:
            proc = subprocess.run(full, input=stdin, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise CommandError(full, -1, _text(exc.stdout), f"timed out after {exc.timeout}s") from None
        except FileNotFoundError as exc:
            raise LabError(f"cannot run {full[0]!r}: {exc}") from exc
        return proc.returncode, proc.stdout, proc.stderr

    def json(self, *args: str, tool: str = "ceph", timeout: float | None = None) -> Any:
        """Run ``TOOL ARGS… --format json`` and return the parsed document."""
        result = self.run(*args, "--format", "json", tool=tool, timeout=timeout)
        try:
            return json.loads(result.stdout or "null")
        except json.JSONDecodeError as exc:
            raise CommandError(result.argv, result.rc,
                               f"unparseable JSON ({exc}): {result.stdout[:500]}", result.stderr) from None

    def describe(self) -> str:
        return " ".join(shlex.quote(a) for a in self.command(["ceph"]))


class LocalCeph(CephRunner):
    """Ceph's CLI on this machine, pointed at the lab's own ceph.conf (never /etc/ceph)."""

    def __init__(self, conf: Path, connect_timeout: int = 15,
                 wrap: Optional[Callable[[list[str]], list[str]]] = None, server: bool = False):
        self.conf = Path(conf)
        self.connect_timeout = connect_timeout
        #: Turns the tool's argv into the argv to execute (e.g. inside a Ceph release's
        #: root with chroot); None runs this machine's tools as they are.
        self.wrap = wrap
        #: With ``server``, ``ceph`` commands go to long-lived children that keep the
        #: cluster connection (cephlab.ceph_server); the CLI answers what they cannot.
        self.servers = ceph_server.ServerPool(self._server_argv) if server else None

    def command(self, argv: Sequence[str]) -> list[str]:
        tool, rest = argv[0], list(argv[1:])
        extra = ["--connect-timeout", str(self.connect_timeout)] if tool == "ceph" else []
        full = [tool, "-c", str(self.conf), *extra, *rest]
        return self.wrap(full) if self.wrap else full

    def _server_argv(self) -> list[str]:
        argv = ["/usr/bin/python3", "-c", ceph_server.SERVER, str(self.conf), str(self.connect_timeout)]
        return self.wrap(argv) if self.wrap else argv

    def execute(self, full, tool, args, stdin, timeout):
        split = ceph_server.split_args(args) if tool == "ceph" and self.servers else None
        if split is not None and self.servers is not None:
            words, fmt, wants_stdin = split
            stall = min(timeout, ceph_server.STALL)
            try:
                return self.servers.ask(words, fmt, (stdin or b"") if wants_stdin else b"", stall)
            except ceph_server.Unavailable:
                pass  # the CLI answers, with its own messages
            except TimeoutError:
                if stall >= timeout:
                    raise CommandError(full, -1, "", f"timed out after {timeout}s") from None
                # Its session may sit on a mon that left the quorum: a new connection (the
                # CLI's) finds one in it. Ceph's mon commands are idempotent, so sending
                # it again is safe.
                timeout -= stall
        return super().execute(full, tool, args, stdin, timeout)

    def close(self) -> None:
        """Stop the command servers (before the root they run in is unmounted)."""
        if self.servers is not None:
            self.servers.close()


class ToolboxCeph(CephRunner):
    """Ceph's CLI inside the Rook toolbox deployment, through ``kubectl exec``."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None,
                 namespace: str = ROOK_NS, deployment: str = TOOLBOX, connect_timeout: int = 15):
        self.kubeconfig, self.context = kubeconfig, context
        self.namespace, self.deployment = namespace, deployment
        # ceph gives up on unreachable mons itself: a command kubectl stops waiting for must
        # not keep running in the pod
        self.connect_timeout = connect_timeout

    def command(self, argv: Sequence[str]) -> list[str]:
        kubectl = ["kubectl"]
        if self.kubeconfig:
            kubectl += ["--kubeconfig", self.kubeconfig]
        if self.context:
            kubectl += ["--context", self.context]
        tool, rest = argv[0], list(argv[1:])
        extra = ["--connect-timeout", str(self.connect_timeout)] if tool == "ceph" else []
        return [*kubectl, "-n", self.namespace, "exec", "-i", f"deploy/{self.deployment}",
                "--", tool, *extra, *rest]


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
