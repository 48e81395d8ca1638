"""``python3 -m cephlab setup``: everything the README's two commands need, on a stock machine.

Runs with the system Python and the standard library only (nothing of the project's own
dependencies is installed yet). Steps, one progress line each; every step's full output is
kept in a named log under ``.lab/setup/`` and shown (its tail) only when the step fails:

1. venv      the project's own virtual environment (``.venv``), made with the system
             Python; Debian's ``python3-venv`` is installed first when missing (as root),
             or the exact install line is named (without root). A user's already active
             venv (``$VIRTUAL_ENV``) is used instead and never replaced.
2. pip       the project and its test extras into that environment (skipped when the
             environment already holds this pyproject.toml's requirements).
3. apt       the distro packages the chosen Ceph release needs from this machine.
4. ceph root for the releases built from Debian's archive, the cached root.
5. ghost     Node and Ghost for the local ghost stage (cephlab/local/ghost_install.py).
6. kube      with ``--kube`` only: the nodes target's Kubernetes, built from Go modules and
             Debian packages (cephlab/nodes/setup.py): its programs, the node containers'
             root, and every image the cluster runs, each cached outside any lab dir.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Optional

from .browser import PACKAGES as BROWSER_PACKAGES
from .local.programs import BINARIES, COMPONENTS
from .setup_steps import StepFailed, Steps, apt_install, missing_packages

PROJECT = Path(__file__).resolve().parent.parent
#: This machine's packages for every release: MariaDB and XFS (mysql on RBD), FUSE, nftables
#: (the network partition fault), and the headless browser of the checks of the lab's web pages.
HOST_PACKAGES = ["mariadb-server", "xfsprogs", "fuse3", "nftables", *BROWSER_PACKAGES]
#: The distro's Ceph, for --lab-ceph=host; with --tests also for tests/test_local_data.py, the
#: one lab test module on it: it covers what --lab-ceph=auto falls back to when a Ceph 20 root
#: cannot be built (every other lab test runs on the default release, 20, in its root).
HOST_CEPH_PACKAGES = sorted(set(BINARIES.values()) | set(COMPONENTS.values()) |
                            {"ceph-mgr-dashboard"})
#: Only the harness's own tests need these: ruby evaluates the Vagrantfile, `vagrant validate`
#: (with the libvirt plugin) checks it, shellcheck reads the nightly jobs' shell steps. No
#: provider is installed, so the `auto` target stays local. containerd's own default config
#: checks what the nodes target writes into its nodes' (it is never started here).
TEST_PACKAGES = ["ruby", "shellcheck", "vagrant", "vagrant-libvirt", "containerd"]
STAMP = ".cephlab-setup"


# --------------------------------------------------------------------------- 1. venv
def venv_package(version=sys.version_info) -> str:
    """Debian's package with ensurepip for this Python (python3-venv names only the default)."""
    return f"python{version[0]}.{version[1]}-venv"


def venv_python(venv: Path, active: Optional[str]) -> Path:
    return Path(active) / "bin" / "python" if active else venv / "bin" / "python"


def ensure_venv(steps: Steps, venv: Path, active: Optional[str]) -> Path:
    py = venv_python(venv, active)
    if active:
        if not py.exists():
            raise StepFailed(f"venv: $VIRTUAL_ENV is {active}, but {py} does not exist")
        steps.say(f"venv: using the active virtual environment {active}")
        return py
    if py.exists():
        steps.say(f"venv: {venv} (present)")
        return py
    if not _has_ensurepip():
        pkg = venv_package()
        if os.geteuid() != 0:
            raise StepFailed(f"venv: {sys.executable} cannot make virtual environments "
                             f"(no ensurepip); install it with:\n"
                             f"    sudo apt-get install -y {pkg}\nthen run make again")
        apt_install(steps, [pkg], "venv")
    steps.run("venv", f"made {venv} with {sys.executable}",
              [sys.executable, "-m", "venv", str(venv)])
    return py


def _has_ensurepip() -> bool:
    return subprocess.run([sys.executable, "-c", "import ensurepip"],
                          capture_output=True).returncode == 0


# --------------------------------------------------------------------------- 2. pip
def requirements_digest(project: Path = PROJECT) -> str:
    return hashlib.sha256((project / "pyproject.toml").read_bytes() +
                          str(project).encode()).hexdigest()[:16]


def project_requirements(project: Path = PROJECT) -> list[str]:
    """The names of the packages pyproject.toml asks for, the test extras included (pip
    brings their own dependencies too)."""
    import tomllib

    doc = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    specs = [*doc.get("dependencies", []), *doc.get("optional-dependencies", {}).get("test", [])]
    return [re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0] for spec in specs]


def ensure_packages(steps: Steps, py: Path, project: Path = PROJECT) -> None:
    stamp = py.parent.parent / STAMP
    want = requirements_digest(project)
    names = ", ".join(project_requirements(project))
    if stamp.exists() and stamp.read_text().strip() == want:
        steps.say(f"pip: {py.parent.parent} holds the project's packages ({names})")
        return
    steps.run("pip", f"installed the project and its packages into {py.parent.parent}: {names}",
              [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-e",
               f"{project}[test]"])
    stamp.write_text(want + "\n")


# --------------------------------------------------------------------------- 3. apt
def host_packages(release: str, tests: bool) -> list[str]:
    wanted = list(HOST_PACKAGES)
    if release == "host" or tests:  # tests: test_local_data.py's fallback lab runs on it
        wanted += HOST_CEPH_PACKAGES
    if release != "host":
        wanted.append("debootstrap")
    if tests:
        wanted += TEST_PACKAGES
    return sorted(set(wanted))


# --------------------------------------------------------------------------- 4. ceph root
def ensure_root(steps: Steps, release: str) -> None:
    from .local import releases, rootfs

    if release == "host":
        steps.say("ceph root: none needed (--lab-ceph=host runs the distro's Ceph)")
        return
    root = rootfs.ensure(releases.SOURCES[release], say=steps.say,
                         log=steps.log_dir / f"ceph-{release}-root.log")
    steps.say(f"ceph root: {root.describe()}")


#: The oldest Python the project runs on (pyproject's requires-python): Debian 12's.
MIN_PYTHON = (3, 11)


def python_too_old(version) -> Optional[str]:
    """Why this Python cannot run the project, before set-up does anything; None when it can."""
    if tuple(version[:2]) >= MIN_PYTHON:
        return None
    return (f"Python {version[0]}.{version[1]} is older than {MIN_PYTHON[0]}.{MIN_PYTHON[1]}, the "
            f"oldest the project runs on (Debian 12's /usr/bin/python3); run set-up with a newer "
            f"one: make lab PYTHON=/path/to/python3.11 (nothing was installed)")


def main(release: str, tests: bool, venv: Optional[Path], root: bool = True,
         kube: bool = False) -> int:
    from .errors import LabError
    from .local import releases, rootfs

    steps = Steps(PROJECT / ".lab" / "setup")
    too_old = python_too_old(sys.version_info)
    if too_old:
        print(f"setup: {too_old}", file=sys.stderr)
        return 2
    try:
        if venv is not None:
            py = ensure_venv(steps, venv, os.environ.get("VIRTUAL_ENV"))
            ensure_packages(steps, py)
        key, why = releases.choose(release, rootfs.why_unbuildable)
        steps.say(f"ceph release: {key} ({why})")
        wanted = host_packages(key, tests)
        missing = missing_packages(wanted)
        present = [p for p in wanted if p not in missing]
        if present:
            steps.say(f"apt: already installed: {' '.join(present)}")
        if missing:
            apt_install(steps, missing)
        if root:
            ensure_root(steps, key)
        from .local import ghost_install

        ghost_install.setup(say=print)  # never fails: the ghost stage skips saying why
        if kube:
            from .nodes import setup as nodes_setup

            nodes_setup.ensure(steps)
    except (StepFailed, LabError) as exc:
        print(f"setup: {exc}", file=sys.stderr)
        return 1
    cache = rootfs.cache_dir().parent
    steps.say(f"done; disk it takes: {disk_summary([venv, *sorted(cache.iterdir())] if cache.is_dir() else [venv])}")
    return 0


def disk_summary(paths) -> str:
    """``du`` of each existing path (one file system each), for set-up's last line."""
    parts = []
    for path in paths:
        if path is None or not Path(path).exists():
            continue
        out = subprocess.run(["du", "-sxh", str(path)], capture_output=True, text=True).stdout.split()
        parts.append(f"{path} {out[0] if out else '?'}")
    return ", ".join(parts) or "nothing cached"
