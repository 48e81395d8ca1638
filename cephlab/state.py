"""The lab's persisted state: one JSON file in the lab directory, rewritten atomically.

Fixed keys: ``created_by`` (always "cephlab": destructive work needs it), ``target``,
``created_at``, ``stages`` (slug -> {"applied_at", "seconds", "data"}), ``daemons``
(name -> DaemonRecord JSON) and ``data`` (free-form facts the stages record, e.g. the raw
capacity before extend_storage or checksums of data written before remove_node).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from .errors import ConfigError

OWNER = "cephlab"
STATE_FILE = "state.json"


class LabState:
    def __init__(self, lab_dir: Path, target: str):
        self.path = Path(lab_dir) / STATE_FILE
        self.target = target
        self.doc: dict[str, Any] = {}
        self.load()

    def load(self) -> None:
        if self.path.exists():
            try:
                doc = json.loads(self.path.read_text())
            except json.JSONDecodeError as exc:
                raise ConfigError(f"lab state {self.path} is not valid JSON ({exc}); "
                                  f"remove the lab directory to start afresh") from None
            if doc.get("created_by") != OWNER:
                raise ConfigError(f"{self.path} was not written by this harness; refusing to use it")
            if doc.get("target") != self.target:
                raise ConfigError(
                    f"the lab in {self.path.parent} was built for target {doc.get('target')!r}, "
                    f"not {self.target!r}; use another --lab-dir or destroy it first")
            self.doc = doc
        else:
            self.doc = {}
        self.doc.setdefault("created_by", OWNER)
        self.doc.setdefault("target", self.target)
        self.doc.setdefault("created_at", time.time())
        self.doc.setdefault("stages", {})
        self.doc.setdefault("daemons", {})
        self.doc.setdefault("data", {})

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state.", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(self.doc, fh, indent=2, sort_keys=True)
        os.replace(tmp, self.path)

    @property
    def exists(self) -> bool:
        return self.path.exists()

    # stages ---------------------------------------------------------------------------
    def applied(self, slug: str) -> bool:
        return slug in self.doc["stages"]

    def applied_slugs(self) -> list[str]:
        return list(self.doc["stages"])

    def mark_applied(self, slug: str, seconds: float) -> None:
        self.doc["stages"][slug] = {"applied_at": time.time(), "seconds": round(seconds, 2)}
        self.save()

    # free-form facts --------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        return self.doc["data"].get(key, default)

    def put(self, key: str, value: Any) -> None:
        self.doc["data"][key] = value
        self.save()
