"""Set-up's steps: one progress line each on the terminal, each step's whole output kept in
its own log, and the distro packages a step installs with apt. Standard library only: set-up
runs on the system Python before the project's own packages exist. cephlab/install.py runs
the steps of ``cephlab setup``; cephlab/nodes/ runs the nodes target's with the same ones."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional


class StepFailed(Exception):
    pass


class Steps:
    """One line per step on the terminal; the whole output of each step in its log."""

    def __init__(self, log_dir: Path, out=sys.stdout):
        self.log_dir, self.out = log_dir, out

    def say(self, text: str) -> None:
        print(f"setup: {text}", file=self.out, flush=True)

    def run(self, step: str, what: str, argv: list[str], env: Optional[dict] = None,
            timeout: float = 1800) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{step}.log"
        start = time.monotonic()
        rc: int | str  # the exit code, or why the program did not run to an exit
        with open(log, "ab") as fh:
            fh.write(f"\n=== {time.strftime('%F %T')} {' '.join(argv)}\n".encode())
            fh.flush()
            try:
                rc = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout,
                                    env={**os.environ, **(env or {})}).returncode
            except (subprocess.TimeoutExpired, FileNotFoundError) as exc:
                rc = str(exc)
        if rc != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
            raise StepFailed(f"{step}: {what} failed (exit {rc}); full log {log}:\n{tail}")
        self.say(f"{step}: {what} ({time.monotonic() - start:.0f}s, log {log})")


def missing_packages(packages: list[str]) -> list[str]:
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Abbrev}\n",
                          *packages], capture_output=True, text=True).stdout
    present = {line.split("\t")[0] for line in out.splitlines() if "\tii" in line}
    return [p for p in packages if p not in present]


def apt_install(steps: Steps, packages: list[str], step: str = "apt") -> None:
    if os.geteuid() != 0:
        raise StepFailed(f"{step}: installing {' '.join(packages)} needs root; run:\n"
                         f"    sudo apt-get update && sudo apt-get install -y "
                         f"--no-install-recommends {' '.join(packages)}")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    steps.run(step, "apt-get update", ["apt-get", "update"], env=env)
    steps.run(step, f"installed {' '.join(packages)}",
              ["apt-get", "install", "-y", "--no-install-recommends", *packages], env=env)
