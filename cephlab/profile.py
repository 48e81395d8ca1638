"""Where a run's time goes: with ``CEPHLAB_PROFILE=FILE`` in the environment, every wait and
every Ceph command appends one JSON line to FILE (kind, name, seconds, when), and
``python3 -m cephlab.profile FILE`` sums them up by name. Without the variable nothing is
recorded. bench/bench.py sets it for the full run and prints the summary.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterable, Iterator, Sequence

ENV = "CEPHLAB_PROFILE"
_lock = threading.Lock()


def enabled() -> bool:
    return bool(os.environ.get(ENV))


def record(kind: str, name: str, seconds: float, **extra) -> None:
    """Append one observation (``kind``: "wait", "ceph", "phase") when profiling is on."""
    path = os.environ.get(ENV)
    if not path:
        return
    line = json.dumps({"t": round(time.time(), 3), "kind": kind, "name": name,
                       "s": round(seconds, 4), **extra})
    with _lock, open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


@contextmanager
def timed(kind: str, name: str) -> Iterator[None]:
    """Record how long the block took (also when it raised)."""
    start = time.monotonic()
    try:
        yield
    finally:
        record(kind, name, time.monotonic() - start)


def since_process_start() -> float:
    """Seconds since this process started (Linux /proc), for start-up figures."""
    ticks = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])
    uptime = float(open("/proc/uptime").read().split()[0])
    return uptime - ticks / os.sysconf("SC_CLK_TCK")


def command_name(argv: Sequence[str]) -> str:
    """A Ceph command's name without its options and values: ``ceph osd pool get`` for
    ``ceph -c X osd pool get rbd size``; at most three words after the tool."""
    words, skip = [argv[0]], False
    for arg in argv[1:]:
        if skip:
            skip = False
            continue
        if arg.startswith("-"):
            skip = "=" not in arg and arg in ("-c", "--connect-timeout", "--format", "-f", "-p",
                                              "--pool", "--cluster", "-n", "--name", "-k")
            continue
        if len(words) >= 4 or not arg.replace("-", "").replace("_", "").isalpha():
            break
        words.append(arg)
    return " ".join(words)


def load(lines: Iterable[str]) -> list[dict]:
    return [json.loads(line) for line in lines if line.strip()]


def summarize(records: list[dict], top: int = 15) -> str:
    """Per kind, the names that took the most time in all: count, total, mean and max."""
    out = []
    for kind in sorted({r["kind"] for r in records}):
        groups: dict[str, list[float]] = defaultdict(list)
        for r in records:
            if r["kind"] == kind:
                groups[r["name"]].append(r["s"])
        total = sum(sum(v) for v in groups.values())
        count = sum(len(v) for v in groups.values())
        out.append(f"{kind}: {count} in {total:.1f}s (summed; they may overlap)")
        ranked = sorted(groups.items(), key=lambda kv: -sum(kv[1]))
        for name, secs in ranked[:top]:
            out.append(f"  {sum(secs):7.1f}s  {len(secs):4d}x  mean {sum(secs) / len(secs):5.2f}s  "
                       f"max {max(secs):6.2f}s  {name}")
        if len(ranked) > top:
            rest = ranked[top:]
            out.append(f"  {sum(sum(v) for _, v in rest):7.1f}s  {sum(len(v) for _, v in rest):4d}x  "
                       f"({len(rest)} more names)")
    return "\n".join(out)


def main(argv: Sequence[str] = tuple(sys.argv[1:])) -> int:
    if len(argv) != 1:
        print("usage: python3 -m cephlab.profile FILE  (FILE written with CEPHLAB_PROFILE=FILE)",
              file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as fh:
        print(summarize(load(fh)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
