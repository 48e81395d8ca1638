"""Data written to the lab and read back: RADOS objects, an RBD image, CephFS files.

Everything goes through the target's Ceph runner (stdin/stdout of ``rados``/``rbd``), so
the same code works locally and through the toolbox. What was written is recorded as
SHA-256 digests in the lab state, so a later run can still check it.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Mapping

from .ceph import CephRunner

#: Object sizes: empty, tiny, odd, one 4 MiB RADOS-object boundary crossed, and bigger.
OBJECT_SIZES = (0, 1, 4095, 65_537, 4 * 1024 * 1024 + 1, 9 * 1024 * 1024)
RBD_IMAGE_BYTES = 24 * 1024 * 1024
FILE_SIZES = (0, 10, 1_000_000, 5 * 1024 * 1024 + 3)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_objects(ceph: CephRunner, pool: str, prefix: str) -> dict[str, str]:
    written = {}
    for i, size in enumerate(OBJECT_SIZES):
        name, blob = f"{prefix}-{i}", os.urandom(size)
        ceph.run("-p", pool, "put", name, "-", tool="rados", stdin=blob, timeout=120)
        written[name] = sha256(blob)
    return written


#: Objects read at once by :func:`read_objects` (one ``rados get`` each).
READERS = 4


def read_objects(ceph: CephRunner, pool: str, expected: Mapping[str, str]) -> list[str]:
    """Names whose content differs from what was written (or that cannot be read), in the
    order written; a few are read at once."""
    def check(item: tuple[str, str]) -> str | None:
        name, digest = item
        res = ceph.run("-p", pool, "get", name, "-", tool="rados", check=False, timeout=120,
                       binary=True)
        if res.rc == 0 and sha256(res.raw) == digest:
            return None
        return f"{pool}/{name}" + (f" (rados get exit {res.rc}: {res.stderr.strip()[:200]})"
                                   if res.rc else " (content differs)")
    with ThreadPoolExecutor(READERS) as pool_:
        return [bad for bad in pool_.map(check, expected.items()) if bad is not None]


def write_image(ceph: CephRunner, pool: str, image: str) -> str:
    blob = os.urandom(RBD_IMAGE_BYTES)
    ceph.run("import", "-", f"{pool}/{image}", tool="rbd", stdin=blob, timeout=180)
    return sha256(blob)


def read_image(ceph: CephRunner, pool: str, image: str, digest: str) -> list[str]:
    res = ceph.run("export", f"{pool}/{image}", "-", tool="rbd", check=False, timeout=180,
                   binary=True)
    if res.rc != 0:
        return [f"rbd image {pool}/{image} (rbd export exit {res.rc}: {res.stderr.strip()[:200]})"]
    return [] if sha256(res.raw) == digest else [f"rbd image {pool}/{image} (content differs)"]


def write_files(root: Path, subdir: str) -> dict[str, str]:
    base = root / subdir
    base.mkdir(parents=True, exist_ok=True)
    written = {}
    for i, size in enumerate(FILE_SIZES):
        blob = os.urandom(size)
        path = base / f"file-{i}.bin"
        with open(path, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        written[str(path.relative_to(root))] = sha256(blob)
    return written


def read_files(root: Path, expected: Mapping[str, str]) -> list[str]:
    bad = []
    for rel, digest in expected.items():
        try:
            ok = sha256((root / rel).read_bytes()) == digest
        except OSError as exc:
            bad.append(f"file {rel} ({exc.strerror})")
            continue
        if not ok:
            bad.append(f"file {rel} (content differs)")
    return bad
