"""The local target: a real Ceph cluster on this machine."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path


def lab_slug(lab_dir: Path, sep: str = "-") -> str:
    """``<dir name><sep><digest of the full path>``: readable, and one per lab dir (the name
    of what a lab keeps outside its dir: its nft table, its view of a Ceph root)."""
    path = str(Path(lab_dir).resolve())
    digest = hashlib.sha256(path.encode()).hexdigest()[:10]
    base = re.sub(r"[^a-z0-9]+", sep, Path(path).name.lower()).strip(sep)[:24] or "lab"
    return f"{base}{sep}{digest}"
