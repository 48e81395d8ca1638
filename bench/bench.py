#!/usr/bin/env python3
"""Wall-time benchmark of the local target, printed as figures against the targets.

    python bench/bench.py [--prefix 127.0.8] [--skip-full]

1. bring-up: a fresh local lab to 3 OSDs up and in (stage ceph_cluster, in-process)
2. full run: `pytest features/ --lab-target=local` on a fresh lab dir, destroyed after
3. reuse run: a second `pytest features/ -k toolbox` on a kept lab

Every lab here lives in a temporary directory on its own loopback addresses and is
destroyed before the script ends.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cephlab.config import LabConfig  # noqa: E402
from cephlab.lab import Lab  # noqa: E402

TARGETS = {"bring-up to 3 OSDs up": 20.0, "full local run": 180.0, "reuse run -k toolbox": 10.0}


def pytest_run(lab_dir: Path, prefix: str, *args: str) -> tuple[float, int, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LAB_TARGET", "LAB_DIR")}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "features/", "-q", "-p", "no:cacheprovider",
                           "--lab-target=local", f"--lab-dir={lab_dir}", f"--lab-ip-prefix={prefix}",
                           *args], cwd=ROOT, env=env, capture_output=True, text=True)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
    return time.monotonic() - start, proc.returncode, tail


def bring_up(base: Path, prefix: str) -> float:
    cfg = LabConfig(target="local", target_reason="bench", lab_dir=base / "bringup", ip_prefix=prefix)
    lab = Lab(cfg, announce=lambda text: None)
    lab.sanity_checks()
    start = time.monotonic()
    try:
        lab.reach("ceph_cluster")
        return time.monotonic() - start
    finally:
        lab.destroy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", default="127.0.8", help="loopback prefix for the benchmark labs")
    parser.add_argument("--skip-full", action="store_true", help="skip the full run (the longest)")
    args = parser.parse_args()
    figures: dict[str, tuple[float, str]] = {}
    with tempfile.TemporaryDirectory(prefix="cephlab-bench-") as tmp:
        base = Path(tmp)
        figures["bring-up to 3 OSDs up"] = (bring_up(base, args.prefix), "ok")
        if not args.skip_full:
            secs, rc, tail = pytest_run(base / "full", args.prefix, "--lab-destroy=always")
            figures["full local run"] = (secs, f"exit {rc}: {tail}")
        kept = base / "kept"
        pytest_run(kept, args.prefix, "-k", "toolbox", "--lab-destroy=never")
        secs, rc, tail = pytest_run(kept, args.prefix, "-k", "toolbox", "--lab-destroy=never")
        figures["reuse run -k toolbox"] = (secs, f"exit {rc}: {tail}")
        if (kept / "state.json").exists():
            Lab(LabConfig(target="local", target_reason="bench", lab_dir=kept, ip_prefix=args.prefix),
                announce=lambda text: None).destroy()
    print(f"machine: {os.cpu_count()} cores; Ceph from the distro packages")
    print(f"{'figure':<26}{'seconds':>9}{'target':>9}  verdict  detail")
    worst = 0
    for name, (secs, detail) in figures.items():
        ok = secs <= TARGETS[name]
        worst |= 0 if ok else 1
        print(f"{name:<26}{secs:>9.1f}{TARGETS[name]:>9.0f}  {'within' if ok else 'OVER':<7}  {detail}")
    return worst


if __name__ == "__main__":
    sys.exit(main())
