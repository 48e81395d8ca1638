"""The nodes' network: namespaces of the lab's own, and a forwarder from this machine's
loopback into them.

The lab's network namespace (``cephlab-<digest>``, the digest of the lab dir's path) holds
the bridge ``br-lab`` with the gateway address 10.254.1.1/24, like the Vagrant lab's private
network. Each node has a namespace of its own (``cephlab-<digest>-k8s-N``) with ``lo`` up
and ``eth0`` = 10.254.1.N+1/24, one end of a veth pair whose other end (``v-k8s-N``) sits on
the bridge; its default route goes via 10.254.1.1. Interface names live inside these
namespaces, so they cannot clash with this machine's; namespace names are not interface
names (no 15-character limit) and carry the lab's digest, so two labs never share one.

Nothing here sends a packet outside the namespaces: the lab's namespace has no uplink.
The harness reaches node ports through :func:`serve`, a small process (started with
:func:`cephlab.procs.spawn`, stopped by its recorded pid) that listens on loopback
addresses of this machine's namespace and, for each connection, connects from inside the
lab's namespace to the node's address and relays the bytes both ways.

The names, the address plan and every ``ip`` command line are pure functions, testable
without root; :func:`create_lab`, :func:`add_node` and :func:`delete` run them.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Optional, Sequence

from ..model import SUBNET

GATEWAY = f"{SUBNET}.1"
PREFIX_LEN = 24
BRIDGE = "br-lab"
NODE_IF = "eth0"
NETNS_DIR = Path("/run/netns")
IFNAMSIZ = 15  #: the longest interface name the kernel takes
#: sysctls of the lab's namespace (its bridge's traffic passes iptables, as on a VM host)
LAB_SYSCTLS = {"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1",
               "net.bridge.bridge-nf-call-ip6tables": "1"}
#: sysctls of each node's namespace (what kubeadm's pre-flight checks and pods need)
NODE_SYSCTLS = {"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1",
                "net.bridge.bridge-nf-call-ip6tables": "1"}


# ------------------------------------------------------------------------ names and addresses
def lab_digest(lab_dir: Path) -> str:
    return hashlib.sha256(str(Path(lab_dir).resolve()).encode()).hexdigest()[:8]


def lab_netns(lab_dir: Path) -> str:
    return f"cephlab-{lab_digest(lab_dir)}"


def node_netns(lab_dir: Path, node: str) -> str:
    return f"{lab_netns(lab_dir)}-{node}"


def veth(node: str) -> str:
    """The bridge-side end of ``node``'s veth pair (in the lab's namespace)."""
    name = f"v-{node}"
    if len(name) > IFNAMSIZ:
        raise ValueError(f"interface name {name!r} is longer than {IFNAMSIZ} characters")
    return name


def node_address(index: int) -> str:
    """k8s-1 (index 0) is 10.254.1.2, as in the Vagrant lab."""
    if not 0 <= index < 252:
        raise ValueError(f"no address for node index {index}")
    return f"{SUBNET}.{index + 2}"


def address_plan(nodes: Sequence[str]) -> dict[str, str]:
    return {node: node_address(i) for i, node in enumerate(nodes)}


def hosts_file(plan: dict[str, str]) -> str:
    """/etc/hosts of every node: localhost and all nodes of the lab."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters"]
    lines += [f"{ip}\t{node}" for node, ip in plan.items()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------ command lines
def _sysctl_argv(ns: str, values: dict[str, str]) -> list[str]:
    return ["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
            *(f"{k}={v}" for k, v in values.items())]


def lab_argvs(ns: str) -> list[list[str]]:
    return [["ip", "netns", "add", ns],
            ["ip", "-n", ns, "link", "set", "lo", "up"],
            ["ip", "-n", ns, "link", "add", BRIDGE, "type", "bridge"],
            ["ip", "-n", ns, "addr", "add", f"{GATEWAY}/{PREFIX_LEN}", "dev", BRIDGE],
            ["ip", "-n", ns, "link", "set", BRIDGE, "up"],
            _sysctl_argv(ns, LAB_SYSCTLS)]


def node_argvs(lab_ns: str, ns: str, node: str, address: str) -> list[list[str]]:
    v = veth(node)
    return [["ip", "netns", "add", ns],
            ["ip", "-n", lab_ns, "link", "add", v, "type", "veth", "peer", "name", NODE_IF,
             "netns", ns],
            ["ip", "-n", lab_ns, "link", "set", v, "master", BRIDGE],
            ["ip", "-n", lab_ns, "link", "set", v, "up"],
            ["ip", "-n", ns, "link", "set", "lo", "up"],
            ["ip", "-n", ns, "addr", "add", f"{address}/{PREFIX_LEN}", "dev", NODE_IF],
            ["ip", "-n", ns, "link", "set", NODE_IF, "up"],
            ["ip", "-n", ns, "route", "add", "default", "via", GATEWAY],
            _sysctl_argv(ns, NODE_SYSCTLS)]


def delete_argvs(namespaces: Iterable[str]) -> list[list[str]]:
    """Deleting a namespace removes its interfaces (a veth pair goes with either end); the
    nodes' first, the lab's (with the bridge) last."""
    return [["ip", "netns", "delete", ns] for ns in namespaces]


# ------------------------------------------------------------------------ doing it
def exists(ns: str) -> bool:
    return (NETNS_DIR / ns).exists()


def _run(argvs: list[list[str]]) -> None:
    from ..procs import run_checked

    for argv in argvs:
        run_checked(argv)


def create_lab(ns: str) -> None:
    if not exists(ns):
        _run(lab_argvs(ns))


def add_node(lab_ns: str, ns: str, node: str, address: str) -> None:
    if not exists(ns):
        _run(node_argvs(lab_ns, ns, node, address))


def delete(namespaces: Iterable[str]) -> list[str]:
    """Delete those of ``namespaces`` that exist; returns the ones deleted."""
    gone = []
    for argv in delete_argvs([ns for ns in namespaces if exists(ns)]):
        subprocess.run(argv, capture_output=True)
        if not exists(argv[-1]):
            gone.append(argv[-1])
    return gone


# ------------------------------------------------------------------------ the forwarder
def parse_pair(text: str) -> tuple[tuple[str, int], tuple[str, int]]:
    """``LISTEN_IP:PORT=TARGET_IP:PORT``."""
    left, _, right = text.partition("=")
    if not right:
        raise ValueError(f"{text!r} is not LISTEN_IP:PORT=TARGET_IP:PORT")

    def addr(s: str) -> tuple[str, int]:
        host, _, port = s.rpartition(":")
        return host, int(port)
    return addr(left), addr(right)


def forwarder_argv(ns: str, pairs: dict[tuple[str, int], tuple[str, int]],
                   python: str = sys.executable) -> list[str]:
    return [python, "-m", "cephlab.nodes.netns", "forward", ns,
            *(f"{l[0]}:{l[1]}={t[0]}:{t[1]}" for l, t in sorted(pairs.items()))]


def forward_pairs(listen: dict[str, str], targets: dict[str, str],
                  ports: Iterable[int]) -> dict[tuple[str, int], tuple[str, int]]:
    """Each node's ``ports`` on its loopback address (``listen``: node -> address) to the same
    port at its address in the lab (``targets``: node -> 10.254.1.x)."""
    return {(listen[n], p): (targets[n], p) for n in listen for p in ports}


READY = "cephlab forwarder ready"


def setns(path: Path, nstype: int = 0x40000000) -> None:
    """Move the calling thread into the namespace at ``path`` (default: a network namespace,
    CLONE_NEWNET). Python 3.11 has no os.setns."""
    import ctypes
    import os

    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, nstype) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def serve(ns: str, pairs: dict[tuple[str, int], tuple[str, int]]) -> None:
    """Listen on every ``pairs`` key in this namespace, then enter the lab's namespace ``ns``
    (the whole process: nothing else runs yet) and relay each connection to its target,
    connected from there. Runs until killed."""
    import asyncio
    import socket

    listeners = []
    for (host, port), _ in sorted(pairs.items()):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
        listeners.append((sock, pairs[(host, port)]))
    setns(NETNS_DIR / ns)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            pass

    def handler(target: tuple[str, int]):
        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(*target), timeout=10)
            except (OSError, asyncio.TimeoutError):
                writer.close()
                return
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
            for w in (writer, up_writer):
                w.close()
        return relay

    async def main() -> None:
        servers = [await asyncio.start_server(handler(target), sock=sock)
                   for sock, target in listeners]
        print(f"{READY}: " + ", ".join(f"{s.getsockname()[0]}:{s.getsockname()[1]} -> "
                                       f"{t[0]}:{t[1]}" for s, t in listeners), flush=True)
        await asyncio.gather(*(s.serve_forever() for s in servers))

    asyncio.run(main())


def start_forwarder(ns: str, pairs: dict[tuple[str, int], tuple[str, int]], log: Path,
                    timeout: float = 10.0):
    """Spawn :func:`serve` (a :class:`cephlab.procs.DaemonRecord`), once it listens."""
    import time

    from ..errors import DaemonExited
    from ..procs import is_alive, log_tail, spawn

    start = log.stat().st_size if log.exists() else 0
    rec = spawn(f"forwarder {ns}", forwarder_argv(ns, pairs), log,
                cwd=Path(__file__).resolve().parents[2])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log, "rb") as fh:
            fh.seek(start)
            if READY.encode() in fh.read():
                return rec
        if not is_alive(rec):
            break
        time.sleep(0.05)
    raise DaemonExited(f"the forwarder into {ns} did not start; log {log}:\n{log_tail(log, 10)}")


def main(argv: Optional[list[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[0] != "forward":
        print("usage: python -m cephlab.nodes.netns forward NETNS LISTEN_IP:PORT=TARGET_IP:PORT...",
              file=sys.stderr)
        return 2
    serve(args[1], dict(parse_pair(a) for a in args[2:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
