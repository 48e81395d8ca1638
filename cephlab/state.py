"""The lab's persisted state: one JSON file in the lab directory, rewritten atomically.

The document has a schema version (:data:`SCHEMA`) and fixed sections:

- ``created_by`` ("cephlab": destructive work needs it), ``schema``, ``created_at``;
- ``options``: the :class:`LabOptions` the lab was built with (target, ip prefix, Ceph
  release), saved at creation and used by every later command on it;
- ``stages`` (slug -> {"applied_at", "seconds"}), ``daemons`` (name -> DaemonRecord JSON);
- ``unfinished``: the stage being applied or the fault being injected, from its start until
  it is done ({"kind", "name", "pid", "since"}); left in place when a run stops or fails in
  the middle, for the next run to pick up (see :meth:`cephlab.lab.Lab.recover`);
- ``data``: facts, each one of the known :data:`FACTS` with its type. An unknown key or a
  value of the wrong type is a programming error, refused at once.

A kept lab written with another schema version is refused, naming both versions and what to
do; only ``destroy`` may open it (it needs the daemon records, whose form has not changed).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Union

from . import invoke
from .errors import ConfigError
from .model import LOCAL_IP_PREFIX

OWNER = "cephlab"
STATE_FILE = "state.json"
#: 1: free-form facts, no options (before 2026-11); 2: typed facts and saved options.
SCHEMA = 2


@dataclass(frozen=True)
class LabOptions:
    """What a lab is built with; a later command on the lab uses these, not its own."""

    target: str
    ip_prefix: str = LOCAL_IP_PREFIX
    ceph_release: str = "host"
    #: cluster target: which cluster the lab's objects live in (destroy must find them there)
    kubeconfig: Optional[str] = None
    kube_context: Optional[str] = None
    cluster_config: Optional[str] = None

    @classmethod
    def from_json(cls, doc: dict) -> "LabOptions":
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})


@dataclass(frozen=True)
class Fact:
    key: str
    kind: Union[type, tuple[type, ...]]
    doc: str


#: Every fact a lab records. Who records it is named; nothing else is written to ``data``.
FACTS: dict[str, Fact] = {f.key: f for f in (
    Fact("raw_bytes_before_extend", int,
         "`ceph df` raw bytes just before extend_storage is applied (the lifecycle, every target)"),
    Fact("written_before", dict,
         "stage slug -> the objects, image and files written before it (the data Given step)"),
    Fact("k8s_applied", list, "objects the Kubernetes engine applied (cluster, vagrant)"),
    Fact("vagrant_provider", str, "the provider of the lab's VMs (vagrant)"),
    Fact("nodes", dict, "the node containers: per node its root, namespace, init pid, loop "
                        "devices, and the forwarders' pids (nodes)"),
    Fact("fsid", str, "the local Ceph cluster's fsid (local)"),
    Fact("osds", dict, "osd.N -> node, device, uuid of the local OSDs (local)"),
    Fact("mysql_loop", (str, type(None)), "the loop device under MariaDB's XFS (local)"),
    Fact("mysql_lazy_unmount", bool, "MariaDB's XFS was detached lazily (local)"),
    Fact("ghost_first_boot_seconds", (int, float), "how long Ghost's first start took (local)"),
    Fact("ceph", dict, "the local lab's Ceph: release, version, name and origin, read from "
                       "`ceph --version` by the local preflight (local)"),
    Fact("full_ratios", dict, "the cluster's nearfull/backfillfull/full ratios while the disk-full "
         "fault has them lowered; gone once restored (local)"),
)}

FactKey = Union[str, Fact]


def _fact(key: FactKey) -> Fact:
    name = key.key if isinstance(key, Fact) else key
    try:
        return FACTS[name]
    except KeyError:
        raise KeyError(f"unknown lab fact {name!r}; known facts: {', '.join(FACTS)}") from None


def read_options(lab_dir: Path) -> Optional[LabOptions]:
    """The options a kept lab was built with (None: no lab there). Refuses another schema."""
    path = Path(lab_dir) / STATE_FILE
    if not path.exists():
        return None
    doc = _read(path)
    _check_schema(doc, path)
    return LabOptions.from_json(doc["options"])


def _read(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"lab state {path} is not valid JSON ({exc}); "
                          f"remove the lab directory to start afresh") from None
    if not isinstance(doc, dict) or doc.get("created_by") != OWNER:
        raise ConfigError(f"{path} was not written by this harness; refusing to use it")
    return doc


def _check_schema(doc: dict, path: Path) -> None:
    found = doc.get("schema", 1)
    if found != SCHEMA:
        raise ConfigError(
            f"the lab in {path.parent} was recorded with lab state schema version {found}; this "
            f"harness reads version {SCHEMA}. Destroy it (`{invoke.lab('destroy', path.parent)}`) "
            f"and build it again.")


class LabState:
    """``options`` (or just the target name, for a lab opened without them) must match what a
    kept lab was built with."""

    def __init__(self, lab_dir: Path, target: Union[str, LabOptions], *, any_schema: bool = False):
        self.path = Path(lab_dir) / STATE_FILE
        self.options = target if isinstance(target, LabOptions) else None
        self.target = target.target if isinstance(target, LabOptions) else target
        self.any_schema = any_schema
        self.doc: dict[str, Any] = {}
        self.load()

    def load(self) -> None:
        if self.path.exists():
            doc = _read(self.path)
            if doc.get("target", (doc.get("options") or {}).get("target")) != self.target:
                raise ConfigError(
                    f"the lab in {self.path.parent} was built for target {doc.get('target')!r}, "
                    f"not {self.target!r}; use another --lab-dir or destroy it first")
            if not self.any_schema:
                _check_schema(doc, self.path)
                kept = LabOptions.from_json(doc["options"])
                if self.options is not None and kept != self.options:
                    diff = [f"{k} {v!r} (asked for {getattr(self.options, k)!r})"
                            for k, v in asdict(kept).items() if getattr(self.options, k) != v]
                    raise ConfigError(
                        f"the lab in {self.path.parent} was built with {', '.join(diff)}; run "
                        f"with the lab's own options, or use another --lab-dir, or destroy it "
                        f"first")
            if isinstance(doc.get("ceph"), dict):  # before it was a typed fact (same schema)
                doc.setdefault("data", {}).setdefault("ceph", doc.pop("ceph"))
            self.doc = doc
        else:
            self.doc = {"schema": SCHEMA,
                        "options": asdict(self.options or LabOptions(self.target))}
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

    @property
    def built_by_harness(self) -> bool:
        return self.exists and self.doc.get("created_by") == OWNER

    # stages ---------------------------------------------------------------------------
    def applied(self, slug: str) -> bool:
        return slug in self.doc["stages"]

    def applied_slugs(self) -> list[str]:
        return list(self.doc["stages"])

    def mark_applied(self, slug: str, seconds: float) -> None:
        self.doc["stages"][slug] = {"applied_at": time.time(), "seconds": round(seconds, 2)}
        if (self.unfinished or {}).get("name") == slug:
            self.doc.pop("unfinished")
        self.save()

    # work in progress -------------------------------------------------------------------
    def begin(self, kind: str, name: str) -> None:
        """``kind`` ("stage" or "fault") ``name`` starts: recorded until :meth:`done`."""
        self.doc["unfinished"] = {"kind": kind, "name": name, "pid": os.getpid(), "since": time.time()}
        self.save()

    def done(self, kind: str, name: str) -> None:
        left = self.unfinished
        if left and left.get("kind") == kind and left.get("name") == name:
            self.doc.pop("unfinished")
            self.save()

    @property
    def unfinished(self) -> Optional[dict]:
        """What a run started and did not finish (None: nothing)."""
        return self.doc.get("unfinished")

    # facts --------------------------------------------------------------------------------
    def get(self, key: FactKey, default: Any = None) -> Any:
        return self.doc["data"].get(_fact(key).key, default)

    def has(self, key: FactKey) -> bool:
        return _fact(key).key in self.doc["data"]

    def put(self, key: FactKey, value: Any, *, save: bool = True) -> None:
        """Record a fact; ``save=False`` keeps it in memory only (a lab not written yet)."""
        fact = _fact(key)
        if not isinstance(value, fact.kind) or (fact.kind is int and isinstance(value, bool)):
            raise TypeError(f"lab fact {fact.key} takes {fact.kind}, not {type(value).__name__}")
        self.doc["data"][fact.key] = value
        if save:
            self.save()

    def remove(self, key: FactKey) -> None:
        """Forget a fact (one that holds only while something is in place)."""
        self.doc["data"].pop(_fact(key).key, None)
        self.save()
