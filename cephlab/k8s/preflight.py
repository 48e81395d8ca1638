"""What the host needs before the vagrant or cluster target does any work.

Pure checks (each returns the problems it finds as sentences, an empty list when all is
well) over what the caller hands in: which programs are on PATH, the versions they print,
the text of a file. :func:`check_vagrant_host` and :func:`check_cluster_host` gather the
facts from this machine and raise one :class:`ConfigError` listing every problem, each
saying what is missing and how to get it.

Version facts (read from upstream, see docs/kubernetes-targets.md for the matrix):

- Vagrant drives only the VirtualBox minors its provider lists
  (plugins/providers/virtualbox/driver/meta.rb): 7.0 from Vagrant 2.3.2, 7.1 from 2.4.2,
  7.2 from 2.4.9; any other VirtualBox is refused by Vagrant itself.
- From VirtualBox 6.1.28 on Linux (and on macOS before 7.0), host-only networks must lie in
  the ranges of /etc/vbox/networks.conf, 192.168.56.0/21 when the file is absent; Vagrant
  refuses other addresses before it creates a VM (plugins/providers/virtualbox/action/
  network.rb, validate_hostonly_ip!). The lab's network is 10.254.1.0/24.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
from typing import Callable, Iterable, Optional

from ..errors import ConfigError
from ..model import SUBNET
from .host_tools import TOOLS

Which = Callable[[str], Optional[str]]
Run = Callable[[list], Optional[str]]

LAB_NETWORK = ipaddress.ip_network(f"{SUBNET}.0/24")
VBOX_NETWORKS_CONF = "/etc/vbox/networks.conf"
#: VirtualBox minor -> the first Vagrant release whose provider accepts it
VAGRANT_FOR_VIRTUALBOX: dict[tuple[int, ...], tuple[int, ...]] = {
    (6, 1): (2, 2, 7), (7, 0): (2, 3, 2), (7, 1): (2, 4, 2), (7, 2): (2, 4, 9)}
#: the newest Vagrant release read for the table above: a newer one may know newer VirtualBoxes
NEWEST_VAGRANT_READ = (2, 4, 9)
HOSTONLY_RESTRICTED_FROM = (6, 1, 28)
HOSTONLY_DEFAULT_RANGES = ("192.168.56.0/21", "fe80::/10")
LIBVIRT_PLUGIN = "vagrant-libvirt"


def parse_version(text: Optional[str]) -> Optional[tuple[int, ...]]:
    """The first dotted version in ``text`` ("Vagrant 2.4.3" -> (2, 4, 3),
    "7.1.4r165100" -> (7, 1, 4)); None when there is none."""
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if not found:
        return None
    return tuple(int(p) for p in found.groups() if p is not None)


def parse_vbox_version(text: Optional[str]) -> Optional[tuple[int, ...]]:
    """VirtualBox's version from ``VBoxManage --version``: the line that is a version
    ("7.1.4r165100"); warnings around it (which may name the kernel's version) are skipped."""
    for line in (text or "").splitlines():
        if re.fullmatch(r"\s*\d+\.\d+(\.\d+)?\S*\s*", line):
            return parse_version(line)
    return None


def _dotted(version: Iterable[int]) -> str:
    return ".".join(str(v) for v in version)


def missing_tools(programs: Iterable[str], which: Which) -> list[str]:
    """One sentence per program not on PATH: what it is for and how to get it."""
    problems = []
    for program in programs:
        if which(program):
            continue
        tool = TOOLS[program]
        problems.append(f"`{program}` is not on PATH (it {tool.needed_for}): {tool.how}")
    return problems


def virtualbox_problems(vagrant_text: Optional[str], vbox_text: Optional[str]) -> list[str]:
    """Vagrant and VirtualBox versions that do not work together, from what
    ``vagrant --version`` and ``VBoxManage --version`` printed."""
    vagrant, vbox = parse_version(vagrant_text), parse_vbox_version(vbox_text)
    if vagrant is None:
        return [f"cannot tell Vagrant's version: `vagrant --version` printed {vagrant_text!r}"]
    if vbox is None:
        return [f"cannot tell VirtualBox's version: `VBoxManage --version` printed {vbox_text!r}; "
                f"a VirtualBox whose kernel modules are not loaded says so here (run "
                f"`VBoxManage --version` and follow what it prints)"]
    minor = vbox[:2]
    need = VAGRANT_FOR_VIRTUALBOX.get(minor)
    if need is None:
        if minor > max(VAGRANT_FOR_VIRTUALBOX) and vagrant <= NEWEST_VAGRANT_READ:
            return [f"VirtualBox {_dotted(vbox)} is newer than any VirtualBox Vagrant "
                    f"{_dotted(vagrant)} drives (up to {_dotted(max(VAGRANT_FOR_VIRTUALBOX))}); "
                    f"install a newer Vagrant or VirtualBox 7.2"]
        if minor < min(VAGRANT_FOR_VIRTUALBOX):
            return [f"VirtualBox {_dotted(vbox)} is too old for the lab; install VirtualBox 7.0-7.2"]
        return []
    if vagrant < need:
        return [f"Vagrant {_dotted(vagrant)} does not drive VirtualBox {_dotted(vbox)} (its provider "
                f"knows VirtualBox {_dotted(minor)} from Vagrant {_dotted(need)}); install Vagrant "
                f"{_dotted(need)} or newer"]
    return []


def hostonly_ranges(conf_text: Optional[str]) -> list:
    """The host-only ranges VirtualBox allows, read as Vagrant reads /etc/vbox/networks.conf:
    every line starting with ``*`` lists ranges; no file means the default ranges."""
    if conf_text is None:
        return [ipaddress.ip_network(r) for r in HOSTONLY_DEFAULT_RANGES]
    ranges = []
    for line in conf_text.splitlines():
        line = line.strip()
        if not line.startswith("*"):
            continue
        for entry in line[1:].split():
            try:
                ranges.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue   # VirtualBox ignores what it cannot read; so does this check
    return ranges


def hostonly_problems(vbox_text: Optional[str], platform: str, conf_text: Optional[str],
                      network=LAB_NETWORK) -> list[str]:
    """The lab's private network outside what VirtualBox allows for host-only networks."""
    vbox = parse_vbox_version(vbox_text)
    if vbox is None or vbox < HOSTONLY_RESTRICTED_FROM or platform.startswith("win"):
        return []
    if platform == "darwin" and vbox >= (7, 0, 0):
        return []
    allowed = hostonly_ranges(conf_text)
    if any(network.version == r.version and network.subnet_of(r) for r in allowed):
        return []
    where = (f"{VBOX_NETWORKS_CONF} allows {', '.join(map(str, allowed)) or 'nothing'}"
             if conf_text is not None else f"there is no {VBOX_NETWORKS_CONF}, so only "
             f"{', '.join(HOSTONLY_DEFAULT_RANGES)} are allowed")
    return [f"VirtualBox {_dotted(vbox)} allows host-only networks only in the ranges of "
            f"{VBOX_NETWORKS_CONF} and {where}; the lab's VMs use {network}, which Vagrant then "
            f"refuses. Add the line `* {network}` to {VBOX_NETWORKS_CONF} (as root), keeping "
            f"any ranges already there"]


def libvirt_plugin_problems(plugin_list: Optional[str]) -> list[str]:
    """vagrant-libvirt missing from what ``vagrant plugin list`` printed."""
    names = {line.split()[0] for line in (plugin_list or "").splitlines() if line.strip()}
    if LIBVIRT_PLUGIN in names:
        return []
    return [f"the libvirt provider needs the {LIBVIRT_PLUGIN} plugin, which `vagrant plugin list` "
            f"does not show: `vagrant plugin install {LIBVIRT_PLUGIN}` (or apt-get install "
            f"{LIBVIRT_PLUGIN} with Debian's vagrant)"]


def firmware_problems(firmware: str, provider: str, loader: Optional[str],
                      exists: Callable[[str], bool]) -> list[str]:
    """LAB_FIRMWARE: bios or efi; with efi on libvirt, the OVMF loader must exist."""
    if firmware not in ("bios", "efi"):
        return [f"LAB_FIRMWARE={firmware!r} is neither bios nor efi"]
    if firmware != "efi" or provider != "libvirt":
        return []
    if loader and exists(loader):
        return []
    what = f"LAB_OVMF_CODE={loader} does not exist" if loader else "no OVMF firmware was found"
    return [f"LAB_FIRMWARE=efi on libvirt boots the box through OVMF, but {what}: "
            f"apt-get install ovmf (then /usr/share/OVMF/OVMF_CODE_4M.fd exists) or set LAB_OVMF_CODE"]


#: where distributions put OVMF's code image (the Vagrantfile looks in the same places)
OVMF_CANDIDATES = ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_CODE.fd",
                   "/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/qemu/OVMF.fd")


def ovmf_loader(env: dict, exists: Callable[[str], bool]) -> Optional[str]:
    """LAB_OVMF_CODE, else the first OVMF image found (None: none)."""
    if env.get("LAB_OVMF_CODE"):
        return env["LAB_OVMF_CODE"]
    return next((p for p in OVMF_CANDIDATES if exists(p)), None)


# ---------------------------------------------------------------------------- on this machine
def _run(argv: list) -> Optional[str]:
    """stdout of ``argv`` (stderr appended: VBoxManage warns there), None if it cannot run."""
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return (res.stdout + res.stderr).strip()


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def _raise(what: str, problems: list[str]) -> None:
    if problems:
        raise ConfigError(f"{what} cannot start; fix this first:\n" +
                          "\n".join(f"  - {p}" for p in problems))


def vagrant_host_problems(provider: str, *, which: Which, run: Run,
                          read: Callable[[str], Optional[str]], platform: str,
                          env: dict, exists: Callable[[str], bool]) -> list[str]:
    """Everything the vagrant target needs on this machine, for ``provider``."""
    provider_tool = {"virtualbox": "VBoxManage", "libvirt": "virsh"}.get(provider)
    if provider_tool is None:
        return [f"unknown provider {provider!r}; the lab runs on virtualbox or libvirt"]
    problems = missing_tools(["vagrant", provider_tool, "kubectl", "helm", "curl"], which)
    if which("vagrant"):
        vagrant_text = run(["vagrant", "--version"])
        if provider == "virtualbox" and which("VBoxManage"):
            vbox_text = run(["VBoxManage", "--version"])
            problems += virtualbox_problems(vagrant_text, vbox_text)
            problems += hostonly_problems(vbox_text, platform, read(VBOX_NETWORKS_CONF))
        if provider == "libvirt":
            problems += libvirt_plugin_problems(run(["vagrant", "plugin", "list"]))
    firmware = env.get("LAB_FIRMWARE", "bios").strip().lower() or "bios"
    problems += firmware_problems(firmware, provider, ovmf_loader(env, exists), exists)
    return problems


def check_vagrant_host(provider: str, *, which: Optional[Which] = None, run: Optional[Run] = None,
                       read=None, platform: Optional[str] = None, env: Optional[dict] = None,
                       exists=None) -> None:
    """Raise ConfigError naming every problem of this machine for the vagrant target."""
    _raise("the vagrant target", vagrant_host_problems(
        provider, which=which or shutil.which, run=run or _run, read=read or _read,
        platform=platform or sys.platform, env=dict(os.environ) if env is None else env,
        exists=exists or os.path.exists))


def check_cluster_host(*, which: Optional[Which] = None) -> None:
    """Raise ConfigError naming the programs the cluster target needs and cannot find."""
    _raise("the cluster target", missing_tools(["kubectl", "helm", "curl"], which or shutil.which))
