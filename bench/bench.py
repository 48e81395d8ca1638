#!/usr/bin/env python3
"""Wall-time benchmark of the local target: each figure printed beside its target and the
figure before the speed work (issue 10).

    python bench/bench.py [--prefix 127.0.40] [--ceph 20] [--before REF] [--skip-full] [--skip-data]
                          [--tiers [--lab-tier]] [--nodes | --only-nodes]

1. bring-up: a fresh local lab to 3 OSDs up and in (stage ceph_cluster)
2. full run: `pytest features/ --lab-target=local` on a fresh lab dir; from its junit file
   each stage's time (the sum of its scenarios, as the stage table shows them) and each
   fault's detect/recover figures. The run's total counts every scenario, Ghost's first
   boot (its own schema migrations) included (issue 25's goal); the total without that boot
   is shown as well (issue 10's). The run is profiled (CEPHLAB_PROFILE, cephlab/profile.py)
   and the waits and Ceph commands that took longest are printed after the table
3. reuse run: a second `pytest features/ -k toolbox` on a kept lab
4. a held-down OSD to red: not measured here unless the harness has a function for it
5. data: S3 put/get of 100 x 1 MiB objects through RGW, and MySQL (MariaDB on an RBD image)
   inserting 10,000 rows in batches, with the Ceph layout they ran on; then Ghost on that
   lab: its first boot (the migrations) and a warm restart
6. with --tiers (issue 25): the harness's own tests, the fast tier (`make test`: -m "not lab"
   on pytest-xdist) and, with --lab-tier too, the real-lab tier (`make test-lab`), each with
   its counts of passed and skipped tests; a tree from before the tiers runs its whole suite
7. with --nodes (the nodes target, issue 22): the cached set-up of its Kubernetes (`setup
   --kube` on a warm cache), a fresh node lab to every stage it builds (vms to
   master_isolation) with each stage's seconds, and the cluster's largest resident memory

"Before" is measured in the same run when ``--before REF`` names a git revision of this
project from before the work (it is exported with `git archive` and run the same way);
otherwise the recorded figure and its date are shown. The machine's load average is printed
beside every measurement: on a shared machine the figures are only as quiet as it is.

Every lab here lives in a temporary directory on its own loopback addresses and is
destroyed before the script ends.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cephlab.config import LabConfig  # noqa: E402
from cephlab.lab import Lab  # noqa: E402
from tests.conftest import loopback_prefix  # noqa: E402  (the one table of address blocks)

#: The two faults added (issue 12) after issue 10 set the full run's target, and the figure
#: of the full run without their scenarios (their junit times subtracted, same run).
LATER_FAULTS = ("network_partition", "disk_full")
LATER_FAULTS_FIGURE = "full run without the partition and disk-full faults"
#: Issue 10's targets (seconds). Stages not named have none.
FULL_RUN = "full local run (every scenario, Ghost included)"
FAST_TIER, LAB_TIER = "make test (fast tier)", "make test-lab (real-lab tier)"
TARGETS = {
    "bring-up to 3 OSDs up and in": 8.0,
    FULL_RUN: 120.0,  # issue 25
    FAST_TIER: 300.0,  # issue 25
    "full local run (without Ghost's first boot)": 120.0,
    LATER_FAULTS_FIGURE: 120.0,
    "stage extend_storage": 15.0,
    "stage remove_node": 15.0,
    "stage pg_num": 15.0,
    "reuse run -k toolbox": 10.0,
    "held-down OSD to red": 15.0,
    "noup to red": 15.0,
    # issue 22: the nodes target's bring-up, warm (its goal names 3 OSDs, which need Rook,
    # which cannot be built here; the stages it builds are measured against the same 600 s)
    "nodes: fresh lab to master_isolation, warm": 600.0,
}
NODES_PREFIX = loopback_prefix("bench-nodes")
FAULT_TARGETS = {"detect": 5.0, "recover": 10.0}

#: Figures recorded before this work, with where and when: shown when --before is not given.
PREVIOUS = "2026-11-27, previous session, Ceph 20 (issue 10 / README)"
RECORDED: dict[str, tuple[float, str]] = {
    FULL_RUN: (152.7, "2026-12-05 at d3c2cd6, Ceph 20, --lab-destroy=always (issue 25's profile)"),
    FAST_TIER: (1920.0, "2026-12-04, `pytest tests/` whole, before the tiers (817 passed, 41 skipped)"),
    "bring-up to 3 OSDs up and in": (10.8, "README before 2026-11-27, Ceph 16"),
    "full local run (without Ghost's first boot)": (247.6, PREVIOUS + ", Ghost's first boot included"),
    "stage ceph_cluster": (17.0, PREVIOUS),
    "stage object_store": (17.0, PREVIOUS),
    "stage faults": (67.0, PREVIOUS),
    "stage extend_storage": (37.0, PREVIOUS),
    "stage pg_num": (14.0, PREVIOUS),
    "stage remove_node": (57.0, PREVIOUS),
    "reuse run -k toolbox": (3.8, "README before 2026-11-27"),
    "osd_killed_during_writes detect": (1.6, PREVIOUS),
    "osd_killed_during_writes recover": (7.8, PREVIOUS),
    "node_stopped detect": (11.0, PREVIOUS),
    "node_stopped recover": (8.9, PREVIOUS),
    "mds_failover detect": (15.0, PREVIOUS),
    "mds_failover recover": (1.0, PREVIOUS),
}


def load() -> str:
    return "load " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Figures:
    """One tree's measurements: name -> (seconds, note)."""

    values: dict[str, tuple[float, str]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)  #: reported on their own, not compared
    profile: str = ""  #: where the full run's time went (its waits and Ceph commands)

    def put(self, name: str, seconds: float, note: str = "") -> None:
        self.values[name] = (seconds, note)
        # as it is measured, on stderr: a bench stopped later still shows what it had
        print(f"  measured {name}: {seconds:.1f}s ({load()})", file=sys.stderr, flush=True)


def child_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("LAB_TARGET", "LAB_DIR", "LAB_IP_PREFIX")}


def pytest_run(root: Path, lab_dir: Path, prefix: str, ceph: str, *args: str,
               env: Optional[dict] = None) -> tuple[float, int, str]:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "features/", "-q", "-p", "no:cacheprovider",
                           "--lab-target=local", f"--lab-dir={lab_dir}", f"--lab-ip-prefix={prefix}",
                           f"--lab-ceph={ceph}", *args], cwd=root, env=env or child_env(),
                          capture_output=True, text=True)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
    return time.monotonic() - start, proc.returncode, tail


def destroy(root: Path, lab_dir: Path) -> None:
    if (lab_dir / "state.json").exists():
        subprocess.run([sys.executable, "-m", "cephlab", "destroy", "--lab-dir", str(lab_dir)],
                       cwd=root, env=child_env(), capture_output=True, text=True, timeout=300)


BRING_UP = """
import sys, time
from pathlib import Path
from cephlab.config import LabConfig
from cephlab.lab import Lab
cfg = LabConfig(target="local", target_reason="bench", lab_dir=Path(sys.argv[1]),
                ip_prefix=sys.argv[2], ceph_release=sys.argv[3])
lab = Lab(cfg, announce=lambda text: None)
lab.sanity_checks()
start = time.monotonic()
try:
    lab.reach("ceph_cluster")
    print(time.monotonic() - start)
finally:
    lab.destroy()
"""


def bring_up(root: Path, lab_dir: Path, prefix: str, ceph: str, out: Figures) -> None:
    """The tree's own lifecycle, in a child process so that each tree runs its own code."""
    before = load()
    proc = subprocess.run([sys.executable, "-c", BRING_UP, str(lab_dir), prefix, ceph], cwd=root,
                          env=child_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        out.lines.append(f"bring-up failed: {proc.stderr.strip()[-400:]}")
        return
    out.put("bring-up to 3 OSDs up and in", float(proc.stdout.split()[-1]), f"{before} → {load()}")


def full_run(root: Path, lab_dir: Path, prefix: str, ceph: str, out: Figures) -> None:
    junit = lab_dir.parent / f"{lab_dir.name}-junit.xml"
    profile_file = lab_dir.parent / f"{lab_dir.name}-profile.jsonl"
    before = load()
    # the lab is removed after the clock stops (issue 10's figure did not count its removal)
    secs, rc, tail = pytest_run(root, lab_dir, prefix, ceph, "--lab-destroy=never",
                                f"--junitxml={junit}",
                                env={**child_env(), "CEPHLAB_PROFILE": str(profile_file)})
    after = load()
    try:
        first_boot = _fact(lab_dir, "ghost_first_boot_seconds")
    finally:
        destroy(root, lab_dir)
    stages, faults = read_junit(junit)
    counted = secs - (first_boot or 0.0)
    out.put(FULL_RUN, secs, f"exit {rc}: {tail}; {before} → {after}")
    out.put("full local run (without Ghost's first boot)", counted,
            f"the run above less Ghost's first boot ({first_boot if first_boot is not None else '?'} s)")
    if profile_file.exists():
        out.profile = profile_summary(root, profile_file)
    later = {name: faults[name]["scenario_seconds"] for name in LATER_FAULTS if name in faults}
    if later:
        out.put(LATER_FAULTS_FIGURE, counted - sum(later.values()),
                "the run above less " + ", ".join(f"{n} {v:.1f}s" for n, v in later.items())
                + " (added after issue 10's target was set)")
    out.lines.append(f"Ghost's first boot (its own migrations), not counted above: "
                     f"{first_boot if first_boot is not None else 'not recorded'} s")
    for slug, seconds in stages.items():
        out.put(f"stage {slug}", seconds)
    for name, rep in faults.items():
        out.put(f"{name} detect", rep["detect_seconds"], f"lost {rep['lost']}")
        out.put(f"{name} recover", rep["recover_seconds"], f"lost {rep['lost']}")


def profile_summary(root: Path, path: Path, top: int = 12) -> str:
    """The full run's profile summed by name (the tree's own cephlab.profile, if it has one)."""
    proc = subprocess.run([sys.executable, "-c", "import sys; from cephlab import profile; "
                           f"print(profile.summarize(profile.load(open(sys.argv[1])), top={top}))",
                           str(path)], cwd=root, env=child_env(), capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def time_tiers(root: Path, out: Figures, lab_tier: bool) -> None:
    """The harness's own tests as `make test` (and `make test-lab`) run them in that tree; a
    tree without the tiers runs its whole suite, which was its `make test`."""
    tiered = "TIERS" in (root / "tests" / "conftest.py").read_text()
    runs = ([(FAST_TIER, ["-m", "not lab", "-n", "2", "--dist", "loadfile"])]
            + ([(LAB_TIER, ["-m", "lab"])] if lab_tier else [])) if tiered else \
        [("make test (the whole suite, before the tiers)", [])]
    for name, args in runs:
        before = load()
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "pytest", "tests/", "-q", "-p", "no:cacheprovider",
                               *args], cwd=root, env=child_env(), capture_output=True, text=True)
        secs = time.monotonic() - start
        tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
        # a red tier names its failing tests (pytest's short summary), not only a count
        failed = [line.split(" - ")[0] for line in proc.stdout.splitlines()
                  if line.startswith(("FAILED ", "ERROR "))]
        named = f" [{'; '.join(failed)}]" if failed else ""
        out.put(name, secs, f"exit {proc.returncode}: {tail}{named}; {before} → {load()}")


def _fact(lab_dir: Path, name: str) -> Optional[float]:
    """A fact the run recorded in its lab's state.json (read before the lab is destroyed)."""
    state = lab_dir / "state.json"
    return json.loads(state.read_text()).get("data", {}).get(name) if state.exists() else None


def read_junit(path: Path) -> tuple[dict[str, float], dict[str, dict]]:
    """Stage times (sum of the stage's scenarios) and fault reports from pytest's junit file."""
    stages: dict[str, float] = {}
    faults: dict[str, dict] = {}
    if not path.exists():
        return stages, faults
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.find("skipped") is not None:
            continue
        name = case.get("name", "")
        if not name.startswith("test_") or "__" not in name:
            continue  # not a scenario (e.g. a collection error's entry)
        slug = name[len("test_"):].split("__", 1)[0]
        stages[slug] = stages.get(slug, 0.0) + float(case.get("time", 0))
        for prop in case.iter("property"):
            if prop.get("name") == "fault_report":
                rep = json.loads(prop.get("value"))
                rep["scenario_seconds"] = float(case.get("time", 0))
                faults[rep["fault"]] = rep
    return stages, faults


def toolbox_reuse(root: Path, lab_dir: Path, prefix: str, ceph: str, out: Figures) -> None:
    """`-k toolbox` twice on one lab: the second run reuses what the first built. The kept
    lab then serves the time-to-red figures before it is destroyed."""
    try:
        pytest_run(root, lab_dir, prefix, ceph, "-k", "toolbox", "--lab-destroy=never")
        before = load()
        secs, rc, tail = pytest_run(root, lab_dir, prefix, ceph, "-k", "toolbox", "--lab-destroy=never")
        out.put("reuse run -k toolbox", secs, f"exit {rc}: {tail}; {before}")
        held_down_to_red(root, lab_dir, out)
    finally:
        destroy(root, lab_dir)


#: Run in the measured tree on a kept, healthy lab: one JSON line per break, or "null" when
#: that tree has no time-to-red function (issue 10, item 3, is another part of the work).
RED = """
import json, sys
from pathlib import Path
import cephlab
try:
    from cephlab import redtime
except ImportError:
    redtime = None
# Only the measured tree's own module counts (an editable install of another checkout can
# answer for a submodule the tree does not have).
if redtime is None or Path(cephlab.__file__).parent != Path(redtime.__file__).parent:
    print("null")
    sys.exit(0)
time_to_red = redtime.time_to_red
for how in ("osd_held_down", "noup"):
    red = time_to_red(sys.argv[1], how)
    print(json.dumps({"how": how, "seconds": red.seconds, "named": red.named,
                      "injected": red.injected}))
"""


def held_down_to_red(root: Path, lab_dir: Path, out: Figures) -> None:
    """The time from a held-down OSD (or a blocking flag) to a red wait naming the cause,
    when the measured tree offers ``cephlab.redtime.time_to_red``; else said so."""
    proc = subprocess.run([sys.executable, "-c", RED, str(lab_dir)], cwd=root, env=child_env(),
                          capture_output=True, text=True, timeout=900)
    lines = proc.stdout.split()
    if proc.returncode != 0:
        out.lines.append(f"held-down OSD to red: failed: {proc.stderr.strip()[-300:]}")
    elif not lines or lines == ["null"]:
        out.lines.append("held-down OSD to red: not measured here (no cephlab.redtime in this tree)")
    else:
        for line in proc.stdout.splitlines():
            red = json.loads(line)
            name = "held-down OSD to red" if red["how"] == "osd_held_down" else f"{red['how']} to red"
            out.put(name, red["seconds"], f"{red['injected']}; cause named: {red['named']}")


def measure(root: Path, base: Path, prefix: str, ceph: str, full: bool, tiers: bool = False,
            lab_tier: bool = False) -> Figures:
    out = Figures()
    bring_up(root, base / "bringup", prefix, ceph, out)
    if full:
        full_run(root, base / "full", prefix, ceph, out)
    toolbox_reuse(root, base / "kept", prefix, ceph, out)
    if tiers:
        time_tiers(root, out, lab_tier)
    return out


def nodes_bench(root: Path, base: Path, out: Figures) -> None:
    """The nodes target: warm set-up, a fresh lab to master_isolation, stages, memory."""
    before = load()
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", "from cephlab.nodes import kubebuild; "
                           "print(kubebuild.cached() or '')"], cwd=root, env=child_env(),
                          capture_output=True, text=True)
    if not proc.stdout.strip():
        out.lines.append("nodes: not measured (the Kubernetes programs are not built: make kube)")
        return
    out.put("nodes: cached Kubernetes build found", time.monotonic() - start, before)
    lab_dir, junit = base / "nodes", base / "nodes-junit.xml"
    start = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "pytest", "features/", "-q", "-p", "no:cacheprovider",
                          "--lab-target=nodes", f"--lab-dir={lab_dir}", f"--lab-ip-prefix={NODES_PREFIX}",
                          "--lab-destroy=always", f"--junitxml={junit}",
                          "-k", "vms or kubernetes or cni or master_isolation"],
                         cwd=root, env=child_env(), capture_output=True, text=True)
    secs = time.monotonic() - start
    destroy(root, lab_dir)
    if run.returncode != 0:
        out.lines.append(f"nodes: the run failed: {run.stdout.strip()[-600:]}")
        return
    out.put("nodes: fresh lab to master_isolation, warm", secs, f"{before} → {load()}")
    stages, _ = read_junit(junit)
    for slug, seconds in stages.items():
        out.put(f"nodes: stage {slug}", seconds)
    memory = [line for line in run.stdout.splitlines() if line.startswith("resident memory of the lab")]
    out.lines.append(f"nodes: {memory[-1] if memory else 'resident memory not reported'} "
                     f"(goal: the cluster within 8 GiB)")


def export(ref: str, into: Path) -> Path:
    """``ref`` of this project's git history as a plain tree (what was measured before)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def verdict(name: str, secs: float) -> tuple[str, str]:
    target = TARGETS.get(name)
    if target is None:
        for kind, limit in FAULT_TARGETS.items():
            if name.endswith(" " + kind):
                target = limit
    if target is None:
        return "-", "-"
    return f"{target:.0f}", "within" if secs <= target else "OVER"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", default=loopback_prefix("bench-local"),
                        help="loopback prefix for the benchmark labs (the tests use 127.0.5-34)")
    parser.add_argument("--ceph", default="20", help="the Ceph release (--lab-ceph), default 20")
    parser.add_argument("--before", metavar="REF", help="also measure this git revision, in this run")
    parser.add_argument("--skip-full", action="store_true", help="skip the full runs (the longest)")
    parser.add_argument("--skip-data", action="store_true", help="skip the S3 and MySQL figures")
    parser.add_argument("--tiers", action="store_true", help="also time the fast test tier (make test)")
    parser.add_argument("--lab-tier", action="store_true", help="with --tiers: also the real-lab tier (~30 min)")
    parser.add_argument("--nodes", action="store_true", help="also measure the nodes target (root, make kube)")
    parser.add_argument("--only-nodes", action="store_true", help="measure the nodes target only")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; {load()}; Ceph --lab-ceph={args.ceph}", flush=True)
    with tempfile.TemporaryDirectory(prefix="cephlab-bench-") as tmp:
        base = Path(tmp)
        before: Optional[Figures] = None
        if args.before:
            tree = export(args.before, base / "before-tree")
            before = measure(tree, base / "before", args.prefix, args.ceph, not args.skip_full,
                             args.tiers, args.lab_tier)
        if args.only_nodes:
            now = Figures()
        else:
            now = measure(ROOT, base / "now", args.prefix, args.ceph, not args.skip_full,
                          args.tiers, args.lab_tier)
        if args.nodes or args.only_nodes:
            nodes_bench(ROOT, base, now)
        worst = print_table(now, before, args.before)
        if not args.skip_data and not args.only_nodes:  # after the table: a failure here loses no figure above
            try:
                for line in data_bench(base / "data", args.prefix, args.ceph):
                    print(line, flush=True)
            except Exception as exc:  # noqa: BLE001 - the figures above stand; say what broke
                print(f"data figures: not measured ({type(exc).__name__}: {exc})", flush=True)
                worst = 1
    return worst


def print_table(now: Figures, before: Optional[Figures], ref: Optional[str]) -> int:
    """The figures beside their targets and before-figures; 1 when one is over its target
    or a fault lost something."""
    worst = 0
    print(f"{'figure':<46}{'seconds':>9}{'target':>8}  {'verdict':<7}  before")
    for name, (secs, note) in now.values.items():
        target, ok = verdict(name, secs)
        worst |= 1 if ok == "OVER" else 0
        if before is not None and name in before.values:
            was = f"{before.values[name][0]:.1f} (measured now at {ref})"
        elif name in RECORDED:
            was = f"{RECORDED[name][0]:.1f} ({RECORDED[name][1]})"
        else:
            was = "-"
        print(f"{name:<46}{secs:>9.1f}{target:>8}  {ok:<7}  {was}")
        if note:
            print(f"{'':<46}  {note}")
        if name.endswith(("detect", "recover")) and "lost 0" not in note:
            worst = 1
    for line in now.lines:
        print(line)
    if before is not None:
        for line in before.lines:
            print(f"before ({ref}): {line}")
        for name, (secs, note) in before.values.items():
            if name not in now.values:  # measured only before (the whole suite before the tiers)
                print(f"before ({ref}): {name}: {secs:.1f}s  {note}")
    if now.profile:
        print("where the full run's time went (CEPHLAB_PROFILE; waits and commands summed by name):")
        print(now.profile)
    if before is not None and before.profile:
        print(f"before ({ref}), where its full run's time went:")
        print(before.profile)
    sys.stdout.flush()
    return worst


def data_bench(path: Path, prefix: str, ceph: str) -> list[str]:
    """S3 and MySQL figures on a fresh lab: ceph_cluster + block_pool + object_store + mysql."""
    import hashlib
    import io

    from minio import Minio

    from cephlab import ceph_checks
    from cephlab.local.blockdb import unavailable

    cfg = LabConfig(target="local", target_reason="bench", lab_dir=path, ip_prefix=prefix,
                    ceph_release=ceph)
    lab = Lab(cfg, announce=lambda text: None)
    lab.sanity_checks()
    lines = []
    try:
        lab.reach("object_store")
        mysql_ok = unavailable() is None
        if mysql_ok:
            lab.reach("mysql")
        ceph = lab.ceph
        hosts = ceph_checks.osd_hosts(ceph.json("osd", "tree"))
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
    from cephlab.versions import GHOST
    from cephlab.stages import get

    why = lab.why_not(get("ghost"))
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
