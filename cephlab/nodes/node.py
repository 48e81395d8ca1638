"""The node containers: the Vagrant lab's VMs k8s-1..3 as privileged runc containers.

Each node (under ``<lab>/nodes/<node>/``) is:

- a root: an overlay of the cached Debian root (:mod:`cephlab.nodes.noderoot`, the lower
  layer, never written) with ``upper/`` and ``work/`` on the lab's disk, mounted at
  ``rootfs/``; ``/var/lib/containerd`` is a bind of the plain directory ``containerd/``,
  since containerd's overlayfs snapshotter refuses an overlayfs below it;
- its own network namespace and address (:mod:`cephlab.nodes.netns`), hostname k8s-N, an
  /etc/hosts naming every node, a machine-id of its own;
- two sparse 10 GiB files ``disks/sdc.img`` and ``disks/sdd.img`` attached to loop devices
  (``losetup -f --show``); the node sees each under its kernel name (``/dev/loopN``) and under
  the lab's (``/dev/sdc``, ``/dev/sdd``: block devices with the loop's major:minor);
- a runc container (Debian's runc, state in ``<lab>/nodes/runc``) that is privileged as
  ``docker run --privileged`` is: every capability, no seccomp or AppArmor, every device
  allowed, /sys and /sys/fs/cgroup writable; with a cgroup namespace of its own, so systemd
  (PID 1, through :data:`INIT`) sees its cgroups as the root of each v1 hierarchy, which runc
  mounts for real inside the namespace. Its cgroup lies below the cgroups of the process
  that starts it (runc's relative ``cgroupsPath``): this machine's memory hierarchy places
  the harness in a nested cgroup, and the nodes stay inside it. /dev is a tmpfs holding only
  :data:`DEVICES`, the node's loop devices and sdc/sdd.

What is shared with this machine and guarded: the kernel. Kernel-wide sysctls are
read-only inside a node except its own network namespace's (``/proc/sys/net``); the ones
kubelet insists on setting (:data:`KERNEL_SYSCTLS`) are shadowed by files of the node's own,
so kubelet reads back what it wrote and this machine keeps its values (kernel.panic_on_oops
stays off). udev, systemd-sysctl, module loading and binfmt are masked in the root.

Every function works from the records (a JSON document, ``<lab>/nodes/records.json``,
written after each step so that a run killed half-way leaves what it made recorded):
:func:`destroy` removes exactly what they name, or what is derived from the lab dir alone
(its namespaces, its runc root, its disk files' loops, mounts below its directory), never
anything found by a name pattern of somebody else's.

:class:`NodeSet` is the face the nodes target uses.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional, Sequence

from ..errors import CommandError, LabError, WaitTimeout
from ..k8s.vm_checks import DATA_DISKS
from ..local import mounts
from ..procs import DaemonRecord, log_tail, proc_starttime
from . import netns

Say = Callable[[str], None]
DISK_SIZE = 10 << 30
LAB_DISKS = DATA_DISKS  #: the lab's names of each node's two data disks
RECORDS = "records.json"
INIT = "/usr/local/sbin/cephlab-init"
#: systemd halts on SIGRTMIN+3 (what ``docker stop`` of a systemd container sends)
HALT_SIGNAL = "37"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Character devices of every node: (name, major, minor, mode). The console is a null
#: device: nothing in a node writes to this machine's console.
DEVICES = (("null", 1, 3, 0o666), ("zero", 1, 5, 0o666), ("full", 1, 7, 0o666),
           ("random", 1, 8, 0o666), ("urandom", 1, 9, 0o666), ("tty", 5, 0, 0o666),
           ("console", 1, 3, 0o600), ("kmsg", 1, 11, 0o644), ("fuse", 10, 229, 0o666),
           ("loop-control", 10, 237, 0o660), ("mapper/control", 10, 236, 0o600))
#: Kernel-wide sysctls kubelet sets at start (protectKernelDefaults false): each node gets
#: a file of its own over them.
KERNEL_SYSCTLS = ("vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic",
                  "kernel/panic_on_oops", "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes")
CAPABILITIES = tuple(f"CAP_{c}" for c in (
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
    "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
    "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
    "SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
    "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF "
    "CHECKPOINT_RESTORE").split())


def held_capabilities(status: Optional[str] = None) -> tuple[str, ...]:
    """The capabilities in this process's bounding set (a container gets no more than its
    starter holds: this machine's sandbox lacks CAP_SYS_RESOURCE, for one)."""
    text = Path("/proc/self/status").read_text() if status is None else status
    mask = next(int(line.split()[1], 16) for line in text.splitlines()
                if line.startswith("CapBnd:"))
    return tuple(cap for bit, cap in enumerate(CAPABILITIES) if mask >> bit & 1)


def init_script() -> str:
    """The container's first process: it sets the node's mounts up, then becomes systemd."""
    shadows = " ".join(KERNEL_SYSCTLS)
    return f"""#!/bin/sh
# cephlab node init (cephlab/nodes/node.py): runs first in the node container, then execs
# systemd as PID 1.
set -eu
# The kernel is this machine's: its kernel-wide sysctls are read-only here, the network's
# are the node's own namespace; the ones kubelet sets are files of the node's own.
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
mount --bind /proc/sys/net /proc/sys/net
mount -o remount,bind,rw /proc/sys/net
mkdir -p /run/cephlab/sysctl
for key in {shadows}; do
  [ -e "/proc/sys/$key" ] || continue
  file="/run/cephlab/sysctl/$(echo "$key" | tr / .)"
  cat "/proc/sys/$key" >"$file"
  mount --bind "$file" "/proc/sys/$key"
done
# kubelet's volume mounts must propagate (as on kind's nodes).
mount --make-rshared /
exec /sbin/init "$@"
"""


# ------------------------------------------------------------------------ the records
def nodes_dir(lab_dir: Path) -> Path:
    return Path(lab_dir).resolve() / "nodes"


def container_id(lab_dir: Path, node: str) -> str:
    return netns.node_netns(lab_dir, node)


def plan(lab_dir: Path, nodes: Sequence[str], root: Path) -> dict:
    """The records of a lab before anything is made: names, addresses, paths (pure)."""
    lab_dir = Path(lab_dir).resolve()
    base = nodes_dir(lab_dir)
    addresses = netns.address_plan(nodes)
    return {
        "lab_dir": str(lab_dir), "root": str(root), "netns": netns.lab_netns(lab_dir),
        "runc_root": str(base / "runc"), "cgroup_parent": netns.lab_netns(lab_dir),
        "hosts": addresses, "forwarder": None,
        "nodes": {node: {
            "index": i, "id": container_id(lab_dir, node), "address": addresses[node],
            "netns": netns.node_netns(lab_dir, node), "veth": netns.veth(node),
            "dir": str(base / node), "rootfs": str(base / node / "rootfs"),
            "upper": str(base / node / "upper"), "work": str(base / node / "work"),
            "containerd": str(base / node / "containerd"),
            "bundle": str(base / node / "bundle"), "log": str(base / node / "console.log"),
            "disks": {d: {"file": str(base / node / "disks" / f"{d}.img"), "loop": None,
                          "major": None, "minor": None} for d in LAB_DISKS},
            "cgroup": f"{netns.lab_netns(lab_dir)}/{node}",
            "mounts": [], "pid": None, "starttime": None, "runc": None, "cgroups": {},
        } for i, node in enumerate(nodes)},
    }


def save(records: dict) -> None:
    path = nodes_dir(Path(records["lab_dir"])) / RECORDS
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, indent=2, sort_keys=True))
    os.replace(tmp, path)


def load(lab_dir: Path) -> Optional[dict]:
    try:
        return json.loads((nodes_dir(lab_dir) / RECORDS).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def devices(records: dict) -> dict[str, dict[str, str]]:
    """node -> {sdc: loopN, sdd: loopM} (the kernel's names of the lab's disks)."""
    return {node: {d: Path(disk["loop"]).name for d, disk in rec["disks"].items() if disk["loop"]}
            for node, rec in records["nodes"].items()}


# ------------------------------------------------------------------------ runc's config
def _device(path: str, kind: str, major: int, minor: int, mode: int, gid: int = 0) -> dict:
    return {"path": path, "type": kind, "major": major, "minor": minor, "fileMode": mode,
            "uid": 0, "gid": gid}


def runc_config(rec: dict, hostname: str, shared: Sequence[Path] = (),
                capabilities: Sequence[str] = CAPABILITIES) -> dict:
    """The OCI config of one node's container (pure: everything comes from its arguments)."""
    devs = [_device(f"/dev/{name}", "c", major, minor, mode)
            for name, major, minor, mode in DEVICES]
    for lab_name, disk in rec["disks"].items():
        if disk["loop"] is None:
            raise LabError(f"{hostname}: disk {lab_name} is not attached")
        devs.append(_device(disk["loop"], "b", disk["major"], disk["minor"], 0o660, gid=6))
        devs.append(_device(f"/dev/{lab_name}", "b", disk["major"], disk["minor"], 0o660, gid=6))
    caps = list(capabilities)
    mounts_ = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "rw"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "rw"]},
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "mode=755"]},
        {"destination": "/var/lib/containerd", "type": "bind", "source": rec["containerd"],
         "options": ["rbind", "rw"]},
    ]
    mounts_ += [{"destination": str(p), "type": "bind", "source": str(p),
                 "options": ["rbind", "ro"]} for p in shared]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False, "user": {"uid": 0, "gid": 0}, "args": [INIT], "cwd": "/",
            "env": [f"PATH={PATH}", "container=docker", "HOME=/root", "LANG=C.UTF-8"],
            "capabilities": {s: caps for s in ("bounding", "effective", "permitted",
                                                "inheritable")},
            "noNewPrivileges": False,
        },
        "root": {"path": rec["rootfs"], "readonly": False},
        "hostname": hostname,
        "mounts": mounts_,
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                           {"type": "mount"}, {"type": "cgroup"},
                           {"type": "network", "path": str(netns.NETNS_DIR / rec["netns"])}],
            # relative: below the cgroups of whoever starts runc (see the module docstring)
            "cgroupsPath": rec["cgroup"],
            "resources": {"devices": [{"allow": True, "access": "rwm"}]},
            "devices": devs,
        },
    }


# ------------------------------------------------------------------------ making a node
def _run(argv: list[str], timeout: float = 60) -> str:
    from ..procs import run_checked

    return run_checked(argv, timeout=timeout)


def _mount_root(records: dict, rec: dict) -> None:
    target = Path(rec["rootfs"])
    for d in ("rootfs", "upper", "work", "containerd"):
        Path(rec[d]).mkdir(parents=True, exist_ok=True)
    if str(target) not in rec["mounts"]:  # recorded before it exists: destroy finds it
        rec["mounts"].append(str(target))
        save(records)
    if not mounts.is_mounted(target):
        _run(["mount", "-t", "overlay", "overlay", "-o",
              f"lowerdir={records['root']},upperdir={rec['upper']},workdir={rec['work']}",
              str(target)])


def _write_files(records: dict, node: str, extra_bin: Optional[Path]) -> None:
    rec = records["nodes"][node]
    root = Path(rec["rootfs"])
    (root / "etc/hostname").write_text(f"{node}\n")
    (root / "etc/hosts").write_text(netns.hosts_file(records["hosts"]))
    # Nothing answers DNS in the lab's network; a nameserver there fails fast (no route out).
    resolv = root / "etc/resolv.conf"
    if resolv.is_symlink():
        resolv.unlink()
    resolv.write_text(f"nameserver {netns.GATEWAY}\n")
    machine_id = root / "etc/machine-id"
    if not (machine_id.exists() and machine_id.read_text().strip()):
        machine_id.write_text(secrets.token_hex(16) + "\n")
    init = root / INIT.lstrip("/")
    init.parent.mkdir(parents=True, exist_ok=True)
    init.write_text(init_script())
    init.chmod(0o755)
    if extra_bin:
        dest = root / "usr/local/bin"
        dest.mkdir(parents=True, exist_ok=True)
        for prog in sorted(Path(extra_bin).iterdir()):
            if prog.is_file():
                shutil.copy2(prog, dest / prog.name)


def backing_file(loop: str) -> Optional[str]:
    """The file a loop device is attached to (None: not attached)."""
    try:
        return Path(f"/sys/block/{Path(loop).name}/loop/backing_file").read_text().strip()
    except (FileNotFoundError, OSError):
        return None


def loops_of(file: str) -> list[str]:
    """Every loop device attached to ``file`` (``losetup -j``)."""
    out = subprocess.run(["losetup", "-j", file, "-n", "-O", "NAME"], capture_output=True,
                         text=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def _attach_disks(records: dict, rec: dict) -> None:
    for disk in rec["disks"].values():
        file = Path(disk["file"])
        file.parent.mkdir(parents=True, exist_ok=True)
        if not file.exists():
            with open(file, "wb") as fh:
                fh.truncate(DISK_SIZE)
        attached = loops_of(str(file))
        loop = attached[0] if attached else _run(["losetup", "-f", "--show", str(file)]).strip()
        st = os.stat(loop)
        disk.update(loop=loop, major=os.major(st.st_rdev), minor=os.minor(st.st_rdev))
        save(records)


def create(lab_dir: Path, nodes: Sequence[str], say: Say = print,
           extra_bin: Optional[Path] = None, shared: Sequence[Path] = (),
           root: Optional[Path] = None) -> dict:
    """Make the lab's node containers (not started): root, files, disks, network, bundle.
    ``extra_bin``: programs copied into each node's /usr/local/bin; ``shared``: directories
    of this machine the nodes see read-only at the same path; ``root``: a node root (default:
    the cached one, built first when needed). Returns the records (also saved)."""
    if root is None:
        from . import noderoot

        made = noderoot.ensure(say)
        say(f"  {made.describe()}")
        root = made.path
    records = load(lab_dir) or plan(lab_dir, nodes, root)
    records["root"] = str(root)
    records["shared"] = [str(p) for p in shared if Path(p).is_dir()]
    save(records)
    netns.create_lab(records["netns"])
    for node in nodes:
        prepare(records, node, extra_bin)
    return records


def prepare(records: dict, node: str, extra_bin: Optional[Path] = None) -> None:
    """Everything ``node`` needs before runc starts it; each step is skipped when done, so a
    kept lab whose machine rebooted (no mounts, loops or namespaces) comes back the same."""
    rec = records["nodes"][node]
    _mount_root(records, rec)
    _write_files(records, node, extra_bin)
    _attach_disks(records, rec)
    netns.create_lab(records["netns"])
    netns.add_node(records["netns"], rec["netns"], node, rec["address"])
    bundle = Path(rec["bundle"])
    bundle.mkdir(parents=True, exist_ok=True)
    config = runc_config(rec, node, [Path(p) for p in records.get("shared", [])],
                         held_capabilities())
    (bundle / "config.json").write_text(json.dumps(config, indent=2))
    save(records)


# ------------------------------------------------------------------------ running a node
def _runc(records: dict, *args: str) -> list[str]:
    return ["runc", "--root", records["runc_root"], *args]


def runc_state(records: dict, node: str) -> Optional[str]:
    """runc's status of the node's container ("running", "stopped", ...), None: none."""
    done = subprocess.run(_runc(records, "state", records["nodes"][node]["id"]),
                          capture_output=True, text=True)
    if done.returncode != 0:
        return None
    return json.loads(done.stdout).get("status")


def is_running(records: dict, node: str) -> bool:
    rec = records["nodes"][node]
    return bool(rec["pid"]) and proc_starttime(rec["pid"]) == rec["starttime"]


def start(records: dict, node: str, extra_bin: Optional[Path] = None,
          timeout: float = 60) -> None:
    """Start the node's container: ``runc run`` in the foreground, a daemon of the harness
    (:func:`cephlab.procs.spawn`), so runc waits for the container's PID 1 (systemd, through
    :data:`INIT`) and reaps it; both are recorded by pid and start time."""
    from ..procs import is_alive, spawn

    if is_running(records, node):
        return
    prepare(records, node, extra_bin)
    rec = records["nodes"][node]
    if runc_state(records, node) is not None:  # a container of ours that is gone or stopped
        subprocess.run(_runc(records, "delete", "--force", rec["id"]), capture_output=True)
    pid_file = Path(rec["dir"]) / "init.pid"
    pid_file.unlink(missing_ok=True)
    Path(records["runc_root"]).mkdir(parents=True, exist_ok=True)
    # runc makes the container's cgroups below its own (this process's): recorded first
    rec["cgroups"] = {mnt: f"{path.rstrip('/')}/{rec['cgroup']}"
                      for mnt, path in _cgroups_of(os.getpid()).items()}
    runc = spawn(f"node {node}", _runc(records, "run", "--pid-file", str(pid_file),
                                       "--bundle", rec["bundle"], rec["id"]), Path(rec["log"]))
    rec["runc"] = runc.to_json()
    save(records)
    deadline = time.monotonic() + timeout
    while not pid_file.is_file() or not pid_file.read_text().strip():
        if not is_alive(runc) or time.monotonic() > deadline:
            raise LabError(f"runc could not start {node}; log {rec['log']}:\n"
                           f"{log_tail(rec['log'], 15)}")
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    rec.update(pid=pid, starttime=proc_starttime(pid), cgroups=_cgroups_of(pid))
    save(records)


def _cgroups_of(pid: int) -> dict[str, str]:
    """Hierarchy mount point -> the process's cgroup in it (seen from this machine)."""
    by_controller: dict[str, str] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, sb = left.split(), right.split()
        if len(sb) >= 3 and sb[0] == "cgroup":
            for opt in sb[2].split(","):
                by_controller.setdefault(opt, mounts._unescape(fields[4]))
        elif len(sb) >= 1 and sb[0] == "cgroup2":
            by_controller.setdefault("", mounts._unescape(fields[4]))
    found = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        first = controllers.split(",")[0]
        mnt = by_controller.get(first)
        if mnt:
            found[mnt] = path
    return found


def exec(records: dict, node: str, argv: Sequence[str], input: Optional[str] = None,
         timeout: Optional[float] = None) -> "subprocess.CompletedProcess[str]":
    """Run ``argv`` as root inside the node (``runc exec``): its output, exit code."""
    return subprocess.run(_runc(records, "exec", records["nodes"][node]["id"], *argv),
                          input=input, stdin=None if input is not None else subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def wait_booted(records: dict, node: str, timeout: float = 180) -> str:
    """systemd's state once its start-up is over ("running" or "degraded")."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            done = exec(records, node, ["systemctl", "is-system-running", "--wait"],
                        timeout=max(1.0, deadline - time.monotonic()))
            last = (done.stdout.strip() or done.stderr.strip())
        except subprocess.TimeoutExpired:
            break
        if last in ("running", "degraded"):
            return last
        if not is_running(records, node):
            break
        time.sleep(0.5)
    raise WaitTimeout(f"{node}: systemd did not finish starting within {timeout:.0f}s (last "
                      f"state {last!r}); log {records['nodes'][node]['log']}:\n"
                      f"{log_tail(records['nodes'][node]['log'], 15)}")


def stop(records: dict, node: str, timeout: float = 30) -> bool:
    """Halt the node (SIGRTMIN+3 to systemd), SIGKILL every process of the container after
    ``timeout``, wait for its runc to exit, delete the container's state (runc removes its
    cgroups). True: it had to be killed."""
    from ..procs import stop as stop_process

    rec = records["nodes"][node]
    killed = False
    if is_running(records, node):
        subprocess.run(_runc(records, "kill", rec["id"], HALT_SIGNAL), capture_output=True)
        deadline = time.monotonic() + timeout
        while is_running(records, node) and time.monotonic() < deadline:
            time.sleep(0.1)
        if is_running(records, node):
            killed = True
            subprocess.run(_runc(records, "kill", "--all", rec["id"], "KILL"),
                           capture_output=True)
            deadline = time.monotonic() + 10
            while is_running(records, node) and time.monotonic() < deadline:
                time.sleep(0.1)
    if rec.get("runc"):
        stop_process(DaemonRecord.from_json(rec["runc"]), timeout=10)  # it exits with PID 1
    if runc_state(records, node) is not None:
        subprocess.run(_runc(records, "delete", "--force", rec["id"]), capture_output=True)
    rec.update(pid=None, starttime=None, runc=None)
    save(records)
    return killed


# ------------------------------------------------------------------------ taking it all down
def teardown_plan(records: dict) -> list[tuple[str, str]]:
    """What :func:`destroy` removes, in order, as (kind, what): the forwarder, containers,
    mounts (deepest first), loop devices, network namespaces (nodes' before the lab's),
    cgroups (the containers' before their parent) and the node directories. Pure: it lists
    only what the records name."""
    steps: list[tuple[str, str]] = []
    if records.get("forwarder"):
        steps.append(("process", str(records["forwarder"]["pid"])))
    nodes = records["nodes"]
    steps += [("container", rec["id"]) for rec in nodes.values()]
    recorded = [m for rec in nodes.values() for m in rec["mounts"]]
    steps += [("mount", m) for m in sorted(set(recorded), key=lambda m: m.count("/"),
                                           reverse=True)]
    steps += [("loop", f"{disk['file']}") for rec in nodes.values()
              for disk in rec["disks"].values()]
    steps += [("netns", rec["netns"]) for rec in nodes.values()] + [("netns", records["netns"])]
    cg = sorted({f"{mnt}{path}" for rec in nodes.values() for mnt, path in rec["cgroups"].items()},
                key=lambda p: p.count("/"), reverse=True)
    steps += [("cgroup", p) for p in cg]
    steps += [("cgroup", p) for p in sorted({str(Path(p).parent) for p in cg
                                             if Path(p).parent.name == records["cgroup_parent"]})]
    steps += [("dir", rec["dir"]) for rec in nodes.values()]
    steps.append(("dir", records["runc_root"]))
    return steps


def _runc_alive(rec: dict) -> bool:
    from ..procs import is_alive

    return bool(rec.get("runc")) and is_alive(DaemonRecord.from_json(rec["runc"]))


def _rmdir_cgroup(path: Path) -> bool:
    """Remove a cgroup and its empty children (rmdir only: a cgroup that still holds a
    process stays)."""
    if not path.is_dir():
        return False
    for child in sorted((p for p in path.rglob("*") if p.is_dir()),
                        key=lambda p: len(p.parts), reverse=True):
        try:
            child.rmdir()
        except OSError:
            pass
    try:
        path.rmdir()
        return True
    except OSError:
        return False


def destroy(records: dict, say: Say = print) -> list[str]:
    """Stop and remove everything the records name; returns what was removed. Raises
    LabError when something stays (a mount that would not go, a loop still attached):
    the node directories are removed only when nothing is mounted below them."""
    from ..procs import stop as stop_process

    removed: list[str] = []
    problems: list[str] = []
    for kind, what in teardown_plan(records):
        if kind == "process":
            rec = DaemonRecord.from_json(records["forwarder"])
            stop_process(rec, timeout=5)
            records["forwarder"] = None
            save(records)
            removed.append(f"forwarder (pid {what})")
        elif kind == "container":
            node = next(n for n, r in records["nodes"].items() if r["id"] == what)
            if is_running(records, node) or runc_state(records, node) is not None \
                    or _runc_alive(records["nodes"][node]):
                killed = stop(records, node)
                removed.append(f"container {node}{' (killed)' if killed else ''}")
        elif kind == "mount":
            if mounts.is_mounted(Path(what)):
                how = mounts.unmount(Path(what))
                removed.append(f"mount {what} ({how})")
        elif kind == "loop":
            for loop in loops_of(what):
                if backing_file(loop) == what:
                    subprocess.run(["losetup", "-d", loop], capture_output=True)
                    removed.append(f"loop {loop} ({what})")
            if loops_of(what):
                problems.append(f"{what} is still attached to {', '.join(loops_of(what))}")
        elif kind == "netns":
            removed += [f"netns {ns}" for ns in netns.delete([what])]
            if netns.exists(what):
                problems.append(f"network namespace {what} stays")
        elif kind == "cgroup":
            if _rmdir_cgroup(Path(what)):
                removed.append(f"cgroup {what}")
        elif kind == "dir":
            left = mounts.mounts_under(Path(what))
            busy = [d["file"] for r in records["nodes"].values() if r["dir"] == what
                    for d in r["disks"].values() if loops_of(d["file"])]
            if left or busy:
                problems.append(f"{what} is kept: " + ", ".join(
                    [f"{m} is mounted" for m in left] + [f"{f} is attached" for f in busy]))
            elif Path(what).exists():
                shutil.rmtree(what)
                removed.append(f"dir {what}")
    if problems:
        raise LabError("destroying the node containers left: " + "; ".join(problems))
    path = nodes_dir(Path(records["lab_dir"])) / RECORDS
    path.unlink(missing_ok=True)
    for leftover in (path.parent / "forwarder.log",):
        leftover.unlink(missing_ok=True)
    if path.parent.is_dir() and not any(path.parent.iterdir()):
        path.parent.rmdir()
    return removed


def leftovers(records: dict) -> list[str]:
    """What of the lab's runtime still exists (empty after :func:`destroy`)."""
    left = []
    if records.get("forwarder"):
        from ..procs import is_alive

        if is_alive(DaemonRecord.from_json(records["forwarder"])):
            left.append(f"forwarder pid {records['forwarder']['pid']}")
    for node, rec in records["nodes"].items():
        if rec["pid"] and proc_starttime(rec["pid"]) == rec["starttime"]:
            left.append(f"{node} pid {rec['pid']}")
        if _runc_alive(rec):
            left.append(f"{node} runc pid {rec['runc']['pid']}")
        left += [f"{node} netns" for ns in [rec["netns"]] if netns.exists(ns)]
        left += [f"{node} loop {loop}" for disk in rec["disks"].values()
                 for loop in loops_of(disk["file"])]
        left += [f"{node} cgroup {mnt}{p}" for mnt, p in rec["cgroups"].items()
                 if Path(f"{mnt}{p}").exists()]
    if netns.exists(records["netns"]):
        left.append(f"lab netns {records['netns']}")
    left += [f"mount {m}" for m in mounts.mounts_under(nodes_dir(Path(records["lab_dir"])))]
    return left


def resident_bytes(records: dict) -> dict[str, int]:
    """node -> the resident memory (VmRSS) of every process in its cgroups, this machine's
    view (the node's own processes and its pods' alike)."""
    found = {}
    for node, rec in records["nodes"].items():
        pids: set[int] = set()
        for mnt, path in rec["cgroups"].items():
            top = Path(f"{mnt}{path}")
            for dirpath, _, files in os.walk(top) if top.is_dir() else ():
                if "cgroup.procs" in files:
                    text = Path(dirpath, "cgroup.procs").read_text()
                    pids.update(int(p) for p in text.split())
            if pids:
                break          # one hierarchy lists them all
        total = 0
        for pid in pids:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue       # gone meanwhile
            total += next((int(line.split()[1]) * 1024 for line in status.splitlines()
                           if line.startswith("VmRSS:")), 0)
        found[node] = total
    return found


# ------------------------------------------------------------------------ the target's face
class NodeSet:
    """The lab's node containers as the nodes target uses them: ``addresses`` is where the
    harness reaches each node (a loopback address of this machine), ``ports`` what the
    forwarder publishes there."""

    EXEC = "bin/node-exec"

    def __init__(self, lab_dir: Path, nodes: Sequence[str], addresses: Mapping[str, str],
                 ports: Iterable[int], extra_bin: Optional[Path] = None,
                 shared: Optional[Sequence[Path]] = None):
        """``extra_bin``: programs for every node's /usr/local/bin; ``shared``: directories of
        this machine the nodes see read-only at the same path (default: the image archives'
        cache, which :meth:`load_images` imports from)."""
        self.lab_dir = Path(lab_dir).resolve()
        self.nodes = tuple(nodes)
        self.addresses = dict(addresses)
        self.ports = tuple(ports)
        self.extra_bin = extra_bin
        if shared is None:
            from . import images

            shared = (images.cache_dir(),)
        self.shared = tuple(Path(p) for p in shared)

    @property
    def records(self) -> dict:
        found = load(self.lab_dir)
        if found is None:
            raise LabError(f"the lab {self.lab_dir} has no node containers yet")
        return found

    def create_and_start(self, say: Say = print) -> None:
        """Make the nodes (once), start those not running, the forwarder, and wait until
        systemd in each has finished starting."""
        for path in self.shared:
            path.mkdir(parents=True, exist_ok=True)
        records = load(self.lab_dir) or create(self.lab_dir, self.nodes, say, self.extra_bin,
                                               self.shared)
        self._write_exec(records)
        for node in self.nodes:
            start(records, node, self.extra_bin)
        self._ensure_forwarder(records)
        for node in self.nodes:
            say(f"  {node}: systemd {wait_booted(records, node)}")

    def _write_exec(self, records: dict) -> None:
        path = self.lab_dir / self.EXEC
        path.parent.mkdir(parents=True, exist_ok=True)
        prefix = records["netns"]
        path.write_text(
            "#!/bin/sh\n# cephlab: run COMMAND as root in node container NODE of this lab\n"
            '[ $# -ge 2 ] || { echo "usage: $0 NODE COMMAND..." >&2; exit 2; }\n'
            'node=$1; shift\n'
            f"exec runc --root '{records['runc_root']}' exec '{prefix}-'\"$node\" \"$@\"\n")
        path.chmod(0o755)

    def _ensure_forwarder(self, records: dict) -> None:
        from ..procs import is_alive

        fwd = records.get("forwarder")
        if fwd and is_alive(DaemonRecord.from_json(fwd)):
            return
        if not self.ports:
            return
        pairs = netns.forward_pairs(self.addresses, records["hosts"], self.ports)
        rec = netns.start_forwarder(records["netns"], pairs,
                                    nodes_dir(self.lab_dir) / "forwarder.log")
        records["forwarder"] = rec.to_json()
        save(records)

    def exec(self, node: str, argv: Sequence[str], input: Optional[str] = None,
             timeout: Optional[float] = None) -> "subprocess.CompletedProcess[str]":
        return exec(self.records, node, argv, input, timeout)

    def run(self, node: str, argv: Sequence[str], stdin: Optional[str] = None,
            what: Optional[str] = None, timeout: Optional[float] = 600) -> str:
        """stdout of ``argv`` in ``node``; CommandError when it fails."""
        done = self.exec(node, argv, stdin, timeout)
        if done.returncode != 0:
            err = CommandError([f"{node}:", *argv], done.returncode, done.stdout, done.stderr)
            if what:
                raise LabError(f"{what} failed: {err}") from err
            raise err
        return done.stdout

    def devices(self) -> dict[str, tuple[str, ...]]:
        """node -> the kernel names of the loop devices playing sdc and sdd."""
        found = devices(self.records)
        return {n: tuple(found[n][d] for d in LAB_DISKS) for n in self.nodes}

    def not_running(self) -> list[str]:
        records = load(self.lab_dir)
        if records is None:
            return list(self.nodes)
        return [n for n in self.nodes if not is_running(records, n)]

    def helpers_down(self) -> list[str]:
        """What of the lab's own processes besides the nodes does not run (the forwarder)."""
        from ..procs import is_alive

        records = load(self.lab_dir)
        if records is None or not self.ports:
            return []
        fwd = records.get("forwarder")
        return [] if fwd and is_alive(DaemonRecord.from_json(fwd)) else ["the port forwarder"]

    def start_stopped(self, say: Say = print) -> list[str]:
        records = self.records
        stopped = [n for n in self.nodes if not is_running(records, n)]
        down = self.helpers_down()
        for node in stopped:
            start(records, node, self.extra_bin)
        self._ensure_forwarder(records)
        for node in stopped:
            wait_booted(records, node)
        return [f"node container {n}" for n in stopped] + down

    def why_stopped(self, node: str) -> str:
        log = self.records["nodes"][node]["log"]
        return f"its log {log} ends:\n{log_tail(log, 15)}"

    def status(self) -> list[str]:
        records = load(self.lab_dir)
        if records is None:
            return ["node containers: none"]
        out = []
        for node, rec in records["nodes"].items():
            state = "running" if is_running(records, node) else "stopped"
            disks = ", ".join(f"{d}={Path(x['loop']).name if x['loop'] else '-'}"
                              for d, x in rec["disks"].items())
            out.append(f"{node}: {state} (pid {rec['pid']}), {rec['address']}, {disks}")
        return out

    def diagnostics(self) -> str:
        records = load(self.lab_dir)
        if records is None:
            return "node containers: none made"
        parts = self.status()
        for node, rec in records["nodes"].items():
            parts.append(f"--- {node} console log ({rec['log']}):\n{log_tail(rec['log'], 20)}")
            if is_running(records, node):
                done = exec(records, node, ["systemctl", "--failed", "--no-legend"], timeout=20)
                parts.append(f"--- {node} failed units:\n{done.stdout.strip() or '(none)'}")
        return "\n".join(parts)

    def pids(self) -> set[int]:
        """Every process the records name: each node's runc and PID 1, the forwarder."""
        records = load(self.lab_dir)
        if records is None:
            return set()
        found = {records["forwarder"]["pid"]} if records.get("forwarder") else set()
        for rec in records["nodes"].values():
            found |= {p for p in (rec.get("pid"), (rec.get("runc") or {}).get("pid")) if p}
        return found

    def resident(self) -> dict[str, int]:
        """node -> resident bytes of everything running in it (empty: no nodes)."""
        records = load(self.lab_dir)
        return resident_bytes(records) if records else {}

    def load_images(self, archives: Sequence, say: Say = print) -> None:
        """Import image archives (written on this machine) into every node's containerd; the
        archives' directory must be among ``shared``."""
        from . import images

        for node in self.nodes:
            def run(argv: list[str], node: str = node) -> subprocess.CompletedProcess[str]:
                return self.exec(node, argv, timeout=600)

            images.load(archives, run, say=say)

    def destroy(self, say: Say = print) -> list[str]:
        records = load(self.lab_dir)
        removed = destroy(records, say) if records else []
        exe = self.lab_dir / self.EXEC
        exe.unlink(missing_ok=True)
        if exe.parent.is_dir() and not any(exe.parent.iterdir()):
            exe.parent.rmdir()
        return removed
