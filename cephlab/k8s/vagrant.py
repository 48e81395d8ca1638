"""A thin layer over python-vagrant: up, status, ssh, destroy for the lab's VMs.

Every failure becomes :class:`VagrantError`, which names the vagrant command line, its
exit code and the tail of its stderr. The Vagrantfile's knobs (LAB_CPUS, LAB_MEMORY, ...)
are passed as ``settings`` and reach vagrant through its environment.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import subprocess
import tempfile
from typing import Iterator, Mapping

from cephlab.errors import LabError

# python-vagrant warns at import time when vagrant is not on PATH; we check per call
logging.getLogger("vagrant").setLevel(logging.ERROR)
import vagrant as _pyvagrant  # noqa: E402  (python-vagrant)

from .manifests import NODES  # noqa: E402

SETTINGS = ("LAB_NODES", "LAB_CPUS", "LAB_MEMORY", "LAB_BOX", "LAB_BOX_VERSION",
            "LAB_DISK_GB", "LAB_VB_CONTROLLER", "LAB_FIRMWARE", "LAB_OVMF_CODE")
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


class VagrantError(LabError):
    """A vagrant command failed or could not be started."""

    def __init__(self, argv: list[str], rc: int | None, stderr: str = ""):
        self.argv, self.rc, self.stderr = list(argv), rc, stderr
        tail = stderr.strip()[-1500:]
        status = "could not run" if rc is None else f"exit {rc}"
        super().__init__(f"vagrant command failed ({status}): {' '.join(self.argv)}"
                         + (f"\nstderr: {tail}" if tail else ""))


class VagrantLab:
    """The lab's VMs, driven through the ``vagrant`` executable found on PATH.

    The environment (os.environ plus ``settings``) is captured when the object is created.
    """

    #: What ``lsblk`` calls the data disks (stage vms's check).
    disk_types: tuple[str, ...] = ("disk",)

    def __init__(self, root: os.PathLike | str = REPO_ROOT, *,
                 settings: Mapping[str, str | int] | None = None,
                 nodes: tuple[str, ...] = NODES,
                 dotfile_path: os.PathLike | str | None = None):
        self.root = pathlib.Path(root)
        if not (self.root / "Vagrantfile").is_file():
            raise VagrantError(["vagrant"], None, f"no Vagrantfile in {self.root}")
        unknown = set(settings or ()) - set(SETTINGS)
        if unknown:
            raise ValueError(f"unknown Vagrantfile settings {sorted(unknown)}; known: {SETTINGS}")
        #: What this layer adds to the environment of every vagrant call: the settings and,
        #: with ``dotfile_path``, VAGRANT_CWD and VAGRANT_DOTFILE_PATH (the machines' state
        #: lives there instead of ROOT/.vagrant, so two labs never share machines).
        self.env_overrides = {k: str(v) for k, v in (settings or {}).items()}
        if dotfile_path is not None:
            self.env_overrides["VAGRANT_CWD"] = str(self.root.resolve())
            self.env_overrides["VAGRANT_DOTFILE_PATH"] = str(pathlib.Path(dotfile_path).resolve())
        env = dict(os.environ)
        env.update(self.env_overrides)
        self.nodes = tuple(nodes)
        self._stderr: pathlib.Path | None = None
        self._v = _pyvagrant.Vagrant(root=str(self.root), env=env,
                                     out_cm=_pyvagrant.devnull_cm, err_cm=self._err_cm)

    # -- public API ---------------------------------------------------------------------------

    def up(self, node: str | None = None, *, provider: str | None = None,
           provision: bool | None = None) -> None:
        with self._guard(["up", node, f"--provider={provider}" if provider else None]):
            self._v.up(vm_name=node, provider=provider, provision=provision)

    def status(self) -> dict[str, str]:
        """Machine name -> state ("running", "not_created", "poweroff", ...)."""
        with self._guard(["status", "--machine-readable"]):
            return {s.name: s.state for s in self._v.status()}

    def running(self) -> bool:
        states = self.status()
        return all(states.get(n) == "running" for n in self.nodes)

    def ssh(self, node: str, command: str) -> str:
        """Run ``command`` on ``node`` and return its stdout (CRs stripped)."""
        if node not in self.nodes:
            raise ValueError(f"unknown node {node!r}; nodes are {', '.join(self.nodes)}")
        with self._guard(["ssh", node, "--command", command]):
            return self._v.ssh(vm_name=node, command=command).replace("\r", "")

    def destroy(self, node: str | None = None) -> None:
        with self._guard(["destroy", node, "--force"]):
            self._v.destroy(vm_name=node)

    # -- internals ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _err_cm(self) -> Iterator[object]:
        # python-vagrant hands this file to the subprocess as stderr; _guard reads it back
        with tempfile.NamedTemporaryFile("w+", prefix="vagrant-stderr-", delete=False) as fh:
            self._stderr = pathlib.Path(fh.name)
            yield fh

    def _read_stderr(self) -> str:
        if self._stderr is None:
            return ""
        try:
            return self._stderr.read_text(errors="replace")
        finally:
            self._stderr.unlink(missing_ok=True)
            self._stderr = None

    @contextlib.contextmanager
    def _guard(self, args: list[str | None]) -> Iterator[None]:
        argv = ["vagrant"] + [a for a in args if a is not None]
        try:
            yield
        except subprocess.CalledProcessError as e:
            cmd = [str(c) for c in e.cmd] if isinstance(e.cmd, (list, tuple)) else argv
            raise VagrantError(cmd, e.returncode, self._read_stderr()) from e
        except (RuntimeError, OSError) as e:   # executable missing or not runnable
            raise VagrantError(argv, None, str(e)) from e
        else:
            self._read_stderr()
