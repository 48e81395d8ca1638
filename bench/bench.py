#!/usr/bin/env python3
"""Wall-time benchmark of the local target, printed as figures against the targets.

    python bench/bench.py [--prefix 127.0.8] [--skip-full]

1. bring-up: a fresh local lab to 3 OSDs up and in (stage ceph_cluster, in-process)
2. full run: `pytest features/ --lab-target=local` on a fresh lab dir, destroyed after
3. reuse run: a second `pytest features/ -k toolbox` on a kept lab
4. data: S3 put/get of 100 x 1 MiB objects through RGW, and MySQL (MariaDB on an RBD image)
   inserting 10,000 rows in batches, with the Ceph layout they ran on; then Ghost on that
   lab: its first boot (the migrations) and a warm restart

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

CEPH_STAGES = "ceph_cluster or block_pool or shared_filesystem or extend_storage or toolbox or pg_num or remove_node"
TARGETS = {"bring-up to 3 OSDs up": 20.0, "Ceph stages run": 180.0, "full local run": None,
           "reuse run -k toolbox": 10.0}


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
    parser.add_argument("--skip-full", action="store_true", help="skip the full runs (the longest)")
    parser.add_argument("--skip-data", action="store_true", help="skip the S3 and MySQL figures")
    args = parser.parse_args()
    figures: dict[str, tuple[float, str]] = {}
    with tempfile.TemporaryDirectory(prefix="cephlab-bench-") as tmp:
        base = Path(tmp)
        figures["bring-up to 3 OSDs up"] = (bring_up(base, args.prefix), "ok")
        if not args.skip_full:
            secs, rc, tail = pytest_run(base / "ceph", args.prefix, "--lab-destroy=always",
                                        "-k", CEPH_STAGES)
            figures["Ceph stages run"] = (secs, f"exit {rc}: {tail}")
            secs, rc, tail = pytest_run(base / "full", args.prefix, "--lab-destroy=always")
            figures["full local run"] = (secs, f"exit {rc}: {tail}")
        kept = base / "kept"
        pytest_run(kept, args.prefix, "-k", "toolbox", "--lab-destroy=never")
        secs, rc, tail = pytest_run(kept, args.prefix, "-k", "toolbox", "--lab-destroy=never")
        figures["reuse run -k toolbox"] = (secs, f"exit {rc}: {tail}")
        if (kept / "state.json").exists():
            Lab(LabConfig(target="local", target_reason="bench", lab_dir=kept, ip_prefix=args.prefix),
                announce=lambda text: None).destroy()
        data_lines = data_bench(base / "data", args.prefix) if not args.skip_data else []
    print(f"machine: {os.cpu_count()} cores; Ceph from the distro packages")
    print(f"{'figure':<26}{'seconds':>9}{'target':>9}  verdict  detail")
    worst = 0
    for name, (secs, detail) in figures.items():
        target = TARGETS[name]
        ok = target is None or secs <= target
        worst |= 0 if ok else 1
        verdict = "-" if target is None else ("within" if ok else "OVER")
        print(f"{name:<26}{secs:>9.1f}{'-' if target is None else f'{target:.0f}':>9}  {verdict:<7}  {detail}")
    for line in data_lines:
        print(line)
    return worst


def data_bench(path: Path, prefix: str) -> list[str]:
    """S3 and MySQL figures on a fresh lab: ceph_cluster + block_pool + object_store + mysql."""
    import hashlib
    import io

    from minio import Minio

    from cephlab import checks
    from cephlab.local.blockdb import unavailable

    cfg = LabConfig(target="local", target_reason="bench", lab_dir=path, ip_prefix=prefix)
    lab = Lab(cfg, announce=lambda text: None)
    lab.sanity_checks()
    lines = []
    try:
        lab.reach("object_store")
        mysql_ok = unavailable() is None
        if mysql_ok:
            lab.reach("mysql")
        ceph = lab.ceph
        hosts = checks.osd_hosts(ceph.json("osd", "tree"))
        pools = {p["pool_name"]: p["size"] for p in ceph.json("osd", "pool", "ls", "detail")}
        lines.append(f"layout: {sum(len(v) for v in hosts.values())} OSDs on {', '.join(sorted(hosts))} "
                     f"(BlueStore on sparse files), replicated size {pools.get('replicapool', pools)}")
        host, port = lab.target.endpoint("s3")
        creds = lab.target.credentials("s3")
        s3 = Minio(f"{host}:{port}", access_key=creds["access_key"], secret_key=creds["secret_key"],
                   secure=False)
        s3.make_bucket("bench")
        blob = os.urandom(1024 * 1024)
        start = time.monotonic()
        for i in range(100):
            s3.put_object("bench", f"o{i}", io.BytesIO(blob), len(blob))
        put_s = time.monotonic() - start
        start = time.monotonic()
        for i in range(100):
            resp = s3.get_object("bench", f"o{i}")
            assert hashlib.sha256(resp.read()).digest() == hashlib.sha256(blob).digest()
            resp.close()
            resp.release_conn()
        get_s = time.monotonic() - start
        lines.append(f"S3 put 100 x 1 MiB: {put_s:.1f}s = {100 / put_s:.1f} MiB/s; "
                     f"get: {get_s:.1f}s = {100 / get_s:.1f} MiB/s (pool default.rgw.buckets.data, size 2)")
        if mysql_ok:
            import pymysql

            creds = lab.target.credentials("mysql")
            host, port = lab.target.endpoint("mysql")
            conn = pymysql.connect(host=host, port=port, user=creds["user"], password=creds["password"])
            with conn.cursor() as cur:
                cur.execute("CREATE DATABASE IF NOT EXISTS bench")
                cur.execute("CREATE TABLE bench.t (id INT PRIMARY KEY, v CHAR(32))")
                start = time.monotonic()
                for batch in range(0, 10_000, 500):
                    cur.executemany("INSERT INTO bench.t VALUES (%s, MD5(%s))",
                                    [(i, str(i)) for i in range(batch, batch + 500)])
                    conn.commit()
                secs = time.monotonic() - start
            conn.close()
            lines.append(f"MySQL insert 10,000 rows in batches of 500 (commit each): {secs:.1f}s = "
                         f"{10_000 / secs:.0f} rows/s (MariaDB, XFS on loop on rbd-fuse, replicapool size 2)")
        else:
            lines.append(f"MySQL: not measured ({unavailable()})")
        lines.append(ghost_bench(lab))
    finally:
        lab.destroy()
    return lines


def ghost_bench(lab) -> str:
    """Ghost on the same lab: its first boot (every migration on MariaDB) and a warm restart."""
    from cephlab.k8s.versions import GHOST
    from cephlab.stages import get

    why = lab.target.skip_reason(get("ghost"))
    if why:
        return f"Ghost: not measured ({why})"
    lab.reach("ghost")
    first = lab.state.get("ghost_first_boot_seconds")
    start = time.monotonic()
    lab.target.restart("ghost")
    warm = time.monotonic() - start
    return (f"Ghost {GHOST}: first boot (migrations on MariaDB on RBD, content on CephFS) "
            f"{first:.1f}s; warm restart {warm:.1f}s")


if __name__ == "__main__":
    sys.exit(main())
