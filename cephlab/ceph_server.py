"""The ``ceph`` command without its start-up: a child process that keeps one cluster
connection open and answers ``ceph ARGS`` the way the CLI does.

Each ``ceph`` call of the local lab was a new Python process inside the Ceph release's root:
about 0.18 s, of which the command itself takes a millisecond (the rest is start-up,
imports, the cluster handshake and matching the arguments against every command
signature). A lab run makes hundreds of them, most inside waits that poll.

The server runs the release's own Python and modules (``rados``, ``ceph_argparse``) through
the same wrap as the CLI (chroot into the release's root, or this machine's tools), and takes
the CLI's own path: ``find_cmd_target``, the command descriptions of that target,
``validate_command``, ``json_command``; output, error text and exit code as the CLI gives
them. Anything outside that path goes to the CLI itself: ``tell``/``pg`` targets, polling
commands, CLI or config options other than ``--format``/``-f`` and ``-i -``, arguments that
do not validate (the CLI then prints its own message), and every other tool (rados, rbd).

One request at a time per server; a caller that finds every server busy starts another.
Each server reads requests on its stdin and exits when it closes, so none outlives the
process that started it; :meth:`ServerPool.close` stops them (by pid, they are our
children) before a lab's root is unmounted.
"""

from __future__ import annotations

import base64
import json
import os
import select
import subprocess
import threading
import time
from typing import Callable, Optional, Sequence

#: Runs inside the release's root (its Python may be newer or older than ours: plain code).
SERVER = r"""
import base64, errno, json, sys
conf, connect_timeout = sys.argv[1], int(sys.argv[2])
def reply(doc):
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()
try:
    import rados
    from ceph_argparse import (find_cmd_target, json_command, parse_json_funcsigs,
                               validate_command)
except Exception as exc:
    reply({"unavailable": "cannot import rados/ceph_argparse: %r" % (exc,)})
    sys.exit(0)
reply({"ready": True})
cluster, sigs, valid = None, {}, {}
for line in sys.stdin:
    req = json.loads(line)
    args, fmt = req["args"], req.get("format")
    inbuf = base64.b64decode(req.get("inbuf") or "")
    try:
        if cluster is None:
            handle = rados.Rados(conffile=conf)
            try:
                handle.connect(timeout=connect_timeout)
            except Exception as exc:  # the CLI prints the error and exits 1
                handle.shutdown()
                reply({"rc": 1, "out": "", "err": str(exc) + "\n"})
                continue
            cluster = handle
        target = tuple(find_cmd_target(args))
        if target not in (("mon", ""), ("mon-mgr", "")):  # the default target (20: mon)
            reply({"cli": "target %s" % (target,)})
            continue
        key = json.dumps(args)
        vd = valid.get(key)
        for attempt in (0, 1):
            if vd is not None:
                break
            if attempt or target not in sigs:  # a module that loaded since adds commands
                ret, outbuf, outs = json_command(cluster, target=target,
                                                 prefix="get_command_descriptions")
                if ret:
                    break
                sigs[target] = parse_json_funcsigs(outbuf.decode("utf-8"), "cli")
            vd = validate_command(sigs[target], args) or None
        if vd is None:
            reply({"cli": "not validated"})
            continue
        if vd.get("poll", False):
            reply({"cli": "a polling command"})
            continue
        valid[key] = vd
        cmd = dict(vd)
        if fmt:
            cmd["format"] = fmt
        ret, outbuf, outs = json_command(cluster, target=target, argdict=cmd, inbuf=inbuf)
        if ret == errno.ETIMEDOUT:
            ret = -ret
            outs = outs or ("Connection timed out. Please check the client's "
                            "permission and connection.")
        out = b"\n" if fmt and fmt.startswith("json") else b""
        out += outbuf or b""
        if ret < 0:
            err, rc = "Error %s: %s\n" % (errno.errorcode.get(-ret, "Unknown"), outs), -ret
        else:
            err, rc = (outs + "\n" if outs else ""), 0
        reply({"rc": rc, "out": base64.b64encode(out).decode(), "err": err})
    except Exception as exc:
        reply({"cli": "%s: %s" % (type(exc).__name__, exc)})
"""

#: Seconds a server may take before its command goes to the CLI instead (and the server is
#: stopped): a long-lived session can sit on a mon that left the quorum (the partition
#: fault), where a new connection would find one in it.
STALL = 4.0

#: Arguments the server takes besides the command's own words (the rest go to the CLI).
_FORMAT = ("--format", "-f")
#: Command flags the CLI passes through to the command (not CLI or config options).
_COMMAND_FLAGS = frozenset({"--yes-i-really-mean-it", "--yes-i-really-really-mean-it",
                            "--force", "--really"})


def split_args(args: Sequence[str]) -> Optional[tuple[list[str], Optional[str], bool]]:
    """``(words, format, stdin)`` when the server can take these ``ceph`` arguments, or
    None when only the CLI can (an option of the CLI or of Ceph's config)."""
    words, fmt, stdin, i = [], None, False, 0
    while i < len(args):
        arg = args[i]
        if arg in _FORMAT and i + 1 < len(args):
            fmt, i = args[i + 1], i + 2
            continue
        if arg.startswith("--format="):
            fmt, i = arg.split("=", 1)[1], i + 1
            continue
        if arg == "-i" and i + 1 < len(args) and args[i + 1] == "-":
            stdin, i = True, i + 2
            continue
        if arg.startswith("-") and arg not in _COMMAND_FLAGS and not _number(arg):
            return None
        words.append(arg)
        i += 1
    return words, fmt, stdin


def _number(arg: str) -> bool:
    try:
        float(arg)
        return True
    except ValueError:
        return False


class Unavailable(Exception):
    """The server cannot answer this (or any) command: the caller runs the CLI."""


class Missing(Unavailable):
    """This Ceph has no Python modules to serve commands with."""


class Server:
    """One child process and its pipe; used by one caller at a time."""

    def __init__(self, argv: list[str]):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self._buf = b""
        try:
            first = self._read_line(time.monotonic() + 30)
        except EOFError:
            first = None
        if first is None or not first.get("ready"):
            self.stop()
            if first and "unavailable" in first:
                raise Missing(first["unavailable"])
            raise Unavailable("the server did not start")

    def ask(self, request: dict, timeout: float) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        answer = self._read_line(time.monotonic() + timeout)
        if answer is None:
            self.stop()
            raise TimeoutError(f"no answer within {timeout:g}s")
        return answer

    def _read_line(self, deadline: float) -> Optional[dict]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError("the server exited")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                try:  # a request the dead server never read is still buffered: drop it
                    pipe.close()
                except OSError:
                    pass


class ServerPool:
    """The servers of one lab's ``ceph``: as many as callers ask at once."""

    def __init__(self, argv: Callable[[], list[str]]):
        self._argv = argv
        self._idle: list[Server] = []
        self._busy: set[Server] = set()
        self._lock = threading.Lock()
        self.unavailable: Optional[str] = None  #: why the CLI answers every command

    def ask(self, words: list[str], fmt: Optional[str], inbuf: bytes, timeout: float):
        """``(rc, stdout bytes, stderr)`` as the CLI gives them; raises :class:`Unavailable`
        when the CLI must answer, ``TimeoutError`` when no answer came in time."""
        server = self._take()
        try:
            answer = server.ask({"args": words, "format": fmt,
                                 "inbuf": base64.b64encode(inbuf).decode()}, timeout)
        except (OSError, ValueError, EOFError) as exc:  # it died under us: the CLI answers
            server.stop()
            raise Unavailable(f"the server failed: {exc}") from None
        finally:
            self._give_back(server)
        if "cli" in answer:
            raise Unavailable(answer["cli"])
        return answer["rc"], base64.b64decode(answer["out"]), answer["err"]

    def _take(self) -> Server:
        with self._lock:
            if self.unavailable:
                raise Unavailable(self.unavailable)
            while self._idle:
                server = self._idle.pop()
                if server.alive():
                    self._busy.add(server)
                    return server
                server.stop()
        try:
            server = Server(self._argv())
        except Missing as exc:  # no rados module for this Ceph: the CLI from now on
            with self._lock:
                self.unavailable = str(exc)
            raise Unavailable(str(exc)) from None
        except (OSError, Unavailable) as exc:  # not now (its root not mounted yet, say)
            raise Unavailable(str(exc)) from None
        with self._lock:
            self._busy.add(server)
        return server

    def _give_back(self, server: Server) -> None:
        with self._lock:
            self._busy.discard(server)
            if server.alive():
                self._idle.append(server)

    def pids(self) -> list[int]:
        with self._lock:
            return [s.proc.pid for s in [*self._idle, *self._busy] if s.alive()]

    def close(self) -> None:
        """Stop every server (a busy one too: its caller gets the CLI's answer instead)."""
        with self._lock:
            servers, self._idle, self._busy = [*self._idle, *self._busy], [], set()
        for server in servers:
            server.stop()
