"""The node containers' Debian root filesystem, built once and cached.

Debian 12 (bookworm), because its systemd (252) still boots on this machine's cgroup v1
hierarchies (systemd 256 and later refuse them), made with ``debootstrap --variant=minbase``
and ``apt-get install`` of :data:`PACKAGES` from the mirror this machine's apt uses, in
``<cache>/roots/node-bookworm-<digest>`` (the cache of :mod:`cephlab.local.rootfs`, outside
every lab dir). The digest covers the suite, the package list and :data:`BUILDER_REVISION`;
``manifest.json`` records them and every installed package's version. A build runs in a
temporary directory renamed into place when complete, under a lock, like the Ceph roots.

The root is never changed after its build and never booted itself: every node mounts it as
the lower layer of an overlay of its own (:mod:`cephlab.nodes.node`), which is why a
superseded root is removed only when no overlay names it.

What the build changes besides installing packages (each a unit a node container must not
run, since the nodes share this machine's kernel, devices and console):

- masked: udev (its trigger writes every device's ``uevent`` in /sys, this machine's),
  systemd-sysctl, systemd-modules-load and systemd-binfmt (kernel-wide settings),
  kmod-static-nodes and systemd-tmpfiles-setup-dev (a node's /dev holds only what the
  runtime gives it), console-getty and getty@ (the console is a null device);
- packaged sysctl.d files that set kernel-wide keys (systemd's kernel.pid_max, procps'
  fs.protected_*) are masked, so ``sysctl --system`` in a node changes only the node's
  network namespace (:func:`mask_kernel_sysctl`);
- journald reads no kernel log (``ReadKMsg=no``), as kind's nodes do;
- no machine-id (each node writes its own), no ``policy-rc.d`` left behind.

containerd: bookworm ships 1.6.20. It speaks CRI v1, which kubelet 1.34 requires;
containerd's own support table recommends 1.6.39+, 1.7.28+, 2.0.6+ or 2.1.3+ for Kubernetes
1.34, and lacks the RuntimeConfig call (kubelet then takes its configured cgroup driver). A
containerd in bookworm-backports is taken instead when the archive has one (the build asks
apt); a newer one built elsewhere goes into a node's /usr/local/bin through
``extra_bin`` (:func:`cephlab.nodes.node.create`), which comes before /usr/bin on PATH but not
in containerd.service's ``ExecStart=/usr/bin/containerd``: the caller points the unit at it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..errors import LabError
from ..local import mounts, rootfs

SUITE = "bookworm"
#: Bump when the way a node root is built changes (part of its cache key).
BUILDER_REVISION = 2
#: What kubeadm's pre-flight runs (conntrack, ip, iptables, mount, nsenter, ebtables, ethtool,
#: socat, tc, touch), the node's init and container runtime, and the disk tools Rook's
#: ceph-volume and the lab's checks use.
PACKAGES = ("systemd", "systemd-sysv", "dbus", "containerd", "runc", "iptables", "ipset",
            "conntrack", "ebtables", "ethtool", "socat", "iproute2", "util-linux", "mount",
            "kmod", "ca-certificates", "e2fsprogs", "lvm2", "gdisk", "udev", "procps", "curl",
            "less", "iputils-ping")
#: Units a node never runs (see the module's docstring for why).
MASKED = ("systemd-udevd.service", "systemd-udevd-control.socket",
          "systemd-udevd-kernel.socket", "systemd-udev-trigger.service",
          "systemd-udev-settle.service", "systemd-sysctl.service",
          "systemd-modules-load.service", "systemd-binfmt.service",
          "proc-sys-fs-binfmt_misc.automount", "kmod-static-nodes.service",
          "systemd-tmpfiles-setup-dev.service", "console-getty.service", "getty@.service",
          "systemd-firstboot.service")
#: Checked in a finished root before it is used.
REQUIRED = ("lib/systemd/systemd", "sbin/init", "usr/bin/containerd", "usr/bin/ctr",
            "usr/sbin/runc", "usr/sbin/iptables", "usr/sbin/conntrack", "usr/sbin/ethtool",
            "usr/bin/socat", "sbin/tc", "usr/bin/nsenter", "usr/sbin/ebtables",
            "usr/sbin/losetup", "sbin/lvm", "usr/bin/curl")
BACKPORTS = f"{SUITE}-backports"
PREFIX = f"node-{SUITE}-"

Say = Callable[[str], None]


def wanted() -> dict:
    return {"suite": SUITE, "packages": sorted(PACKAGES), "masked": sorted(MASKED),
            "builder": BUILDER_REVISION}


def root_path(base: Optional[Path] = None) -> Path:
    return (base or rootfs.cache_dir()) / f"{PREFIX}{rootfs.digest(wanted())}"


def cache_decision(manifest: Optional[dict], want: dict) -> tuple[bool, str]:
    """(reuse?, why) for a cached node root whose manifest is ``manifest`` (None: no root)."""
    problem = rootfs.manifest_problem(manifest, want, ("suite", "packages", "masked", "builder"))
    if problem:
        return False, problem
    assert manifest is not None
    installed = manifest["installed"]
    return True, (f"cached Debian {want['suite']} node root (systemd {installed['systemd']}, "
                  f"containerd {installed['containerd']})")


@dataclass(frozen=True)
class NodeRoot:
    path: Path
    manifest: dict
    built: bool       #: built by this call (False: reused from the cache)
    seconds: float

    def describe(self) -> str:
        inst = self.manifest["installed"]
        return (f"Debian {self.manifest['suite']} node root {self.path} (systemd "
                f"{inst['systemd']}, containerd {inst['containerd']}; "
                f"{'built' if self.built else 'cached'}, {self.seconds:.1f}s)")


def ensure(say: Say = print, base: Optional[Path] = None) -> NodeRoot:
    """The cached node root, built first when the cache cannot be reused (root only)."""
    start = time.monotonic()
    path, want = root_path(base), wanted()

    def build(why: str) -> None:
        say(f"node root: building Debian {SUITE} ({why})")
        _build(path, want, say, path.parent / f"{path.name}.build.log")
    manifest, built = rootfs.cached_or_built(path, want, cache_decision, build, ".node-root.lock")
    return NodeRoot(path, manifest, built, time.monotonic() - start)


def _build(path: Path, want: dict, say: Say, log: Path) -> None:
    with rootfs.bootstrapped(path, SUITE, say, log, "the node root") as b:
        tmp, runner, inside, mirror = b.tmp, b.runner, b.inside, b.mirror
        packages = list(want["packages"])
        newer = _backported(runner, inside, tmp, mirror, "containerd", say)
        if newer:
            packages[packages.index("containerd")] = f"containerd/{BACKPORTS}"
        runner.step(f"apt-get install {len(packages)} packages",
                    [*inside, "apt-get", "install", "-y", "-q", "--no-install-recommends",
                     *packages], say, timeout=1800)
        runner.step("masking units a node container must not run",
                    [*inside, "systemctl", "mask", *want["masked"]], say)
        runner.step("default target multi-user",
                    [*inside, "systemctl", "set-default", "multi-user.target"], say)
        masked_sysctl = mask_kernel_sysctl(tmp)
        if masked_sysctl:
            say(f"  kernel-wide sysctl files masked: {', '.join(masked_sysctl)}")
        conf = tmp / "etc/systemd/journald.conf.d/cephlab.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text("# the kernel log is this machine's, not the node's\n"
                        "[Journal]\nReadKMsg=no\n")
        subprocess.run([*inside, "apt-get", "clean"], capture_output=True)
    missing = [p for p in REQUIRED if not (tmp / p).exists() and not (tmp / p).is_symlink()]
    if missing:
        raise LabError(f"the node root built in {tmp} lacks {', '.join(missing)}; log: {log}")
    (tmp / "etc/machine-id").write_text("")  # each node writes its own
    (tmp / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    rootfs.commit(tmp, path, {**want, "mirror": mirror,
                              "containerd_from": BACKPORTS if newer else SUITE,
                              "sysctl_masked": masked_sysctl, "installed": rootfs._installed(tmp)})
    for old in stale_roots(path):
        say(f"  removing the superseded node root {old}")
        shutil.rmtree(old)
        old.with_name(old.name + ".build.log").unlink(missing_ok=True)


def kernel_wide_keys(conf: str) -> list[str]:
    """The keys of a sysctl.d file that are not a network namespace's own (``net.*``)."""
    keys = []
    for line in conf.splitlines():
        line = line.strip()
        if line and line[0] not in "#;" and "=" in line:
            key = line.split("=", 1)[0].strip().lstrip("-").replace("/", ".")
            if not key.startswith("net."):
                keys.append(key)
    return keys


def mask_kernel_sysctl(root: Path) -> list[str]:
    """Mask (``/etc/sysctl.d/NAME -> /dev/null``) every packaged sysctl.d file that sets a
    kernel-wide key: a node's kernel is this machine's, and ``sysctl --system`` in a node
    (the Vagrantfile's provisioning runs it) must neither change it nor fail on the
    read-only /proc/sys. Returns the masked names."""
    masked = []
    etc = root / "etc/sysctl.d"
    etc.mkdir(parents=True, exist_ok=True)
    for conf in sorted((root / "usr/lib/sysctl.d").glob("*.conf")):
        if kernel_wide_keys(conf.read_text(errors="replace")) and not (etc / conf.name).exists():
            (etc / conf.name).symlink_to("/dev/null")
            masked.append(conf.name)
    return masked


def _backported(runner: "rootfs._Logged", inside: list[str], root: Path, mirror: str,
                package: str, say: Say) -> Optional[str]:
    """The version of ``package`` in bookworm-backports when it is newer than bookworm's,
    else None (apt in the root is told about backports either way; nothing else is taken
    from there)."""
    sources = root / "etc/apt/sources.list.d/backports.list"
    sources.write_text(f"deb {mirror} {BACKPORTS} main\n")
    runner.step(f"apt-get update (with {BACKPORTS})",
                [*inside, "apt-get", "update", "-q", "-o", "Acquire::Check-Valid-Until=false"],
                say, timeout=600)
    out = subprocess.run([*inside, "apt-cache", "madison", package], capture_output=True,
                         text=True).stdout
    return newer_in_backports(out)


def newer_in_backports(madison: str) -> Optional[str]:
    """From ``apt-cache madison`` output: the backports version when there is one (backports
    only ever holds versions newer than the suite's)."""
    for line in madison.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) >= 3 and f" {BACKPORTS}/" in f" {fields[2]}":
            return fields[1]
    return None


def stale_roots(current: Path, mountinfo: Optional[str] = None) -> list[Path]:
    """Other node roots in the cache that no overlay uses as its lower layer (a node's
    overlay names its lower dir in mountinfo's super options)."""
    text = Path("/proc/self/mountinfo").read_text() if mountinfo is None else mountinfo
    in_use: set[str] = set()
    for line in text.splitlines():
        _, _, right = line.partition(" - ")
        fields = right.split()
        if len(fields) >= 3 and fields[0] == "overlay":
            for opt in fields[2].split(","):
                if opt.startswith("lowerdir="):
                    in_use.update(mounts._unescape(p) for p in opt[9:].split(":"))
    return sorted(p for p in current.parent.glob(f"{PREFIX}*")
                  if p.is_dir() and p != current and not p.name.endswith(".tmp")
                  and str(p) not in in_use)
