"""The world behind the Kubernetes stand-ins of the contract test (tests/test_contract.py).

No Kubernetes and no Rook can run on this machine, so the vagrant and cluster targets meet
two stand-ins at the boundary they cannot cross:

- the Kubernetes API: a dict of objects (:class:`WorldKube`, the ``FakeKube`` of
  tests/test_cluster_target.py) that also writes what it holds to ``kube.json`` in the world
  directory (``CONTRACT_WORLD``);
- ``kubectl``: :func:`kubectl_main`, on PATH as ``kubectl``. It logs every call; ``exec`` into
  the Rook toolbox runs :func:`ceph_main`, a model of the Ceph cluster that Rook would build
  from the objects applied so far: one OSD per (node, device) of the CephCluster (10 GiB
  each; ids in order of first appearance, kept once assigned, as Ceph keeps them), the pools
  of the CephBlockPool and CephFilesystem objects with their size and pg_num, 3 mons, one
  mgr, the MDS the CephFilesystem asks for. What the model does not know, it refuses
  (exit 22 naming the command), so a step it cannot serve goes red instead of passing.

The model keeps what Ceph itself remembers (assigned OSD ids, ``osd pool set`` values, RBD
images) in ``ceph.json`` beside ``kube.json``.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

GIB = 1024 ** 3
OSD_BYTES = 10 * GIB
NS = "rook-ceph"


class Refused(Exception):
    """The stand-in does not model this command."""


def world_dir() -> Path:
    return Path(os.environ["CONTRACT_WORLD"])


def _load(name: str, default):
    path = world_dir() / name
    return json.loads(path.read_text()) if path.exists() else default


def _save(name: str, doc) -> None:
    path = world_dir() / name
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- the API
WORKERS = ["cephlab-worker", "cephlab-worker2", "cephlab-worker3"]


class DictKube:
    """The Kube interface over a dict; CRs report Ready and workloads ready once applied
    (the in-memory API the cluster-target tests used before the stricter stand-ins of
    tests/standins/ replaced it; kept here for the contract run)."""

    def __init__(self, nodes=None, pods=()):
        self.kubeconfig, self.context = "/fake/kubeconfig", "lab-ctx"
        self.store: dict[tuple, dict] = {}
        self.nodes = nodes if nodes is not None else [
            {"kind": "Node", "metadata": {"name": n},
             "status": {"conditions": [{"type": "Ready", "status": "True"}],
                        "addresses": [{"type": "InternalIP", "address": f"172.18.0.{3 + i}"}]}}
            for i, n in enumerate(WORKERS)]
        self.pods = list(pods)
        self.calls: list[tuple] = []

    def where(self):
        return "context 'lab-ctx' in kubeconfig /fake/kubeconfig"

    def probe_api(self, timeout=5.0):
        return "v1.34.9"

    def _key(self, o):
        return (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])

    def exists(self, o):
        return self._key(o) in self.store

    def apply(self, o):
        created = not self.exists(o)
        self.store[self._key(o)] = copy.deepcopy(o)
        self.calls.append(("apply", *self._key(o)))
        return created

    def create_if_absent(self, o):
        if self.exists(o):
            return False
        self.calls.append(("create", *self._key(o)))
        self.store[self._key(o)] = copy.deepcopy(o)
        return True

    def delete(self, ref):
        self.calls.append(("delete", ref["kind"], ref.get("namespace"), ref["name"]))
        return self.store.pop((ref["kind"], ref.get("namespace"), ref["name"]), None) is not None

    def merge_patch(self, ref, patch):
        self.calls.append(("patch", ref["kind"], ref["name"], patch))

    def pod_log(self, name, namespace, container=None, **kw):
        return f"last lines of {name}/{container}"

    def get_json(self, kind, name=None, namespace=None, *, label_selector=None, api_version=None):
        if kind == "Node":
            return self.nodes if name is None else next((n for n in self.nodes if n["metadata"]["name"] == name), None)
        if name is None:
            items = [p for p in self.pods if p["metadata"].get("namespace") == namespace] if kind == "Pod" else []
            if label_selector:
                k, _, v = label_selector.partition("=")
                items = [i for i in items if i["metadata"].get("labels", {}).get(k) == v]
            return items
        obj = self.store.get((kind, namespace, name))
        if obj is None and kind in ("Deployment", "CustomResourceDefinition"):
            obj = {"kind": kind, "metadata": {"name": name, "namespace": namespace}, "spec": {}}  # applied by URL
        if obj is None:
            return None
        obj = copy.deepcopy(obj)
        obj["status"] = {"phase": "Ready", "readyReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1,
                         "conditions": [{"type": t, "status": "True"} for t in ("Ready", "Established", "Complete")]}
        return obj


def make_world_kube(kubeconfig: str, context: str):
    class WorldKube(DictKube):
        """FakeKube whose objects the toolbox model can read (kube.json)."""

        def __init__(self, nodes=None):
            super().__init__(nodes=nodes)
            self.kubeconfig, self.context = kubeconfig, context
            self.deleted: set[tuple] = set()

        def _dump(self):
            _save("kube.json", [obj for obj in self.store.values()])

        def apply(self, o):
            self.deleted.discard(self._key(o))
            created = super().apply(o)
            self._dump()
            return created

        def create_if_absent(self, o):
            created = super().create_if_absent(o)
            self._dump()
            return created

        def delete(self, ref):
            gone = super().delete(ref)
            self.deleted.add((ref["kind"], ref.get("namespace"), ref["name"]))
            self._dump()
            return gone

        def get_json(self, kind, name=None, namespace=None, **kw):
            # FakeKube answers for Deployments applied by URL; one deleted is gone
            if name is not None and (kind, namespace, name) in self.deleted:
                return None
            if kind == "Deployment" and name is None and kw.get("label_selector") == "app=rook-ceph-osd":
                # Rook's operator makes one OSD Deployment per OSD of the model
                ceph = _load("ceph.json", {})
                osds = _osds(ceph) if _objects("CephCluster") else []
                _save("ceph.json", ceph)
                return [{"kind": "Deployment", "metadata": {"name": f"rook-ceph-osd-{i}", "namespace": NS,
                                                            "labels": {"app": "rook-ceph-osd"}},
                         "spec": {"replicas": 1},
                         "status": {"replicas": 1, "readyReplicas": 1, "updatedReplicas": 1,
                                    "availableReplicas": 1,
                                    "conditions": [{"type": "Available", "status": "True"}]}}
                        for i, _ in osds]
            return super().get_json(kind, name, namespace, **kw)

    return WorldKube


def _objects(kind: str) -> list[dict]:
    return [o for o in _load("kube.json", []) if o.get("kind") == kind]


# ---------------------------------------------------------------------------- Ceph model
def _osds(ceph: dict) -> list[tuple[int, str]]:
    """(id, host) of every OSD: each (node, device) the CephCluster ever named gets an id."""
    clusters = _objects("CephCluster")
    ids: dict[str, int] = ceph.setdefault("osd_ids", {})
    hosts: dict[str, str] = ceph.setdefault("osd_hosts", {})
    for cluster in clusters:
        for node in cluster["spec"]["storage"]["nodes"]:
            for dev in node["devices"]:
                key = f"{node['name']}/{dev['name']}"
                if key not in ids:
                    ids[key] = len(ids)
                    hosts[str(ids[key])] = node["name"]
    purged = set(ceph.get("purged", []))
    return sorted((i, hosts[str(i)]) for i in ids.values() if i not in purged)


def _pools(ceph: dict) -> list[dict]:
    if not _objects("CephCluster"):
        return []
    found = [(".mgr", 1, 1, {"mgr": {}}, {})]
    for bp in _objects("CephBlockPool"):
        params = bp["spec"].get("parameters") or {}
        found.append((bp["metadata"]["name"], bp["spec"]["replicated"]["size"],
                      int(params.get("pg_num", 32)), {"rbd": {}}, params))
    for fs in _objects("CephFilesystem"):
        name = fs["metadata"]["name"]
        meta = fs["spec"]["metadataPool"]
        found.append((f"{name}-metadata", meta["replicated"]["size"], 16, {"cephfs": {}}, {}))
        for dp in fs["spec"]["dataPools"]:
            params = dp.get("parameters") or {}
            found.append((f"{name}-{dp['name']}", dp["replicated"]["size"],
                          int(params.get("pg_num", 32)), {"cephfs": {}}, params))
    pools = []
    for pool_id, (name, size, pg_num, apps, params) in enumerate(found, start=1):
        pool = {"pool": pool_id, "pool_name": name, "type": 1, "size": size, "pg_num": pg_num,
                "pg_placement_num": pg_num, "application_metadata": apps,
                "pg_autoscale_mode": params.get("pg_autoscale_mode", "on")}
        for key, value in (ceph.get("pool_set", {}).get(name) or {}).items():
            if key == "pg_num":
                pool["pg_num"] = pool["pg_placement_num"] = int(value)
            elif key == "pg_autoscale_mode":
                pool[key] = value
            elif key == "size":
                pool[key] = int(value)
        pools.append(pool)
    return pools


def _health(ceph: dict) -> dict:
    odd = [p["pool_name"] for p in _pools(ceph) if p["pg_num"] & (p["pg_num"] - 1)]
    if not odd:
        return {"status": "HEALTH_OK", "checks": {}}
    return {"status": "HEALTH_WARN", "checks": {"POOL_PG_NUM_NOT_POWER_OF_TWO": {
        "severity": "HEALTH_WARN",
        "summary": {"message": f"{len(odd)} pool(s) have non-power-of-two pg_num"}}}}


def _size(text: str) -> int:
    m = re.fullmatch(r"(\d+)([MG]?)", text)
    if not m:
        raise Refused(f"size {text!r}")
    return int(m.group(1)) * {"": 1024 ** 2, "M": 1024 ** 2, "G": GIB}[m.group(2)]


def _blob(kind: str, name: str) -> Path:
    path = world_dir() / "data" / kind / name.replace("/", "%")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def ceph_command(argv: list[str], ceph: dict, stdin: bytes = b"") -> Any:
    """Answer one Ceph CLI call (``--format json`` already removed): a document, text or
    bytes. Objects and images written keep their bytes (in the world's data directory)."""
    if not _objects("CephCluster"):
        raise Refused("there is no CephCluster, so no Ceph cluster answers")
    tool, args = argv[0], argv[1:]
    osds = _osds(ceph)
    pools = _pools(ceph)
    names = {p["pool_name"] for p in pools}
    if tool == "rados" and len(args) == 5 and args[0] == "-p" and args[2] in ("put", "get") and args[4] == "-":
        if args[1] not in names:
            raise Refused(f"pool {args[1]} does not exist")
        path = _blob("rados", f"{args[1]}/{args[3]}")
        if args[2] == "put":
            path.write_bytes(stdin)
            return ""
        if not path.exists():
            raise Refused(f"error getting {args[1]}/{args[3]}: (2) No such file or directory")
        return path.read_bytes()
    if tool == "rbd" and args[:2] == ["import", "-"]:
        ceph.setdefault("images", {})[args[2]] = len(stdin)
        _blob("rbd", args[2]).write_bytes(stdin)
        return ""
    if tool == "rbd" and args[0] == "export" and args[2:] == ["-"]:
        if args[1] not in ceph.get("images", {}):
            raise Refused(f"rbd: error opening image {args[1]}")
        return _blob("rbd", args[1]).read_bytes()
    if tool == "rbd":
        images = ceph.setdefault("images", {})
        if args[0] == "create":
            images[args[1]] = _size(args[args.index("--size") + 1])
            return ""
        if args[0] == "resize":
            images[args[1]] = _size(args[args.index("--size") + 1])
            return ""
        if args[0] == "info":
            if args[1] not in images:
                raise Refused(f"rbd: error opening image {args[1]}")
            return {"name": args[1].split("/")[1], "size": images[args[1]]}
        if args[0] == "ls":
            return [k.split("/")[1] for k in images if k.startswith(args[1] + "/")]
        if args[0] == "rm":
            images.pop(args[1], None)
            return ""
        raise Refused(" ".join(argv))
    if tool == "rados" and args == ["df"]:
        return {"pools": [{"name": p["pool_name"], "num_objects": 0} for p in pools]}
    if tool != "ceph":
        raise Refused(" ".join(argv))
    cmd = " ".join(args)
    if cmd == "quorum_status":
        return {"quorum_names": ["a", "b", "c"]}
    if cmd == "mgr stat":
        return {"available": True, "active_name": "a", "num_standby": 0}
    out, down = set(ceph.get("out", [])), set(ceph.get("down", []))
    if cmd == "osd dump":
        return {"osds": [{"osd": i, "up": int(i not in down), "in": int(i not in out)} for i, _ in osds]}
    if len(args) == 3 and args[:2] == ["osd", "ls-tree"]:
        if args[2] in ceph.get("crush_removed", []):
            raise Refused(f"host {args[2]} does not exist")
        return "".join(f"{i}\n" for i, host in osds if host == args[2])
    if len(args) == 3 and args[0] == "osd" and args[1] in ("out", "down", "safe-to-destroy"):
        osd = int(args[2].removeprefix("osd."))
        if osd not in {i for i, _ in osds}:
            raise Refused(f"osd.{osd} does not exist")
        if args[1] == "safe-to-destroy":   # the model keeps both copies elsewhere once it is out
            if osd not in out:
                raise Refused(f"osd.{osd} is not safe to destroy: it still holds PGs (it is in)")
            return ""
        ceph.setdefault(args[1], []).append(osd)
        return ""
    if len(args) == 4 and args[:2] == ["osd", "purge"] and args[3] == "--yes-i-really-mean-it":
        osd = int(args[2])
        if osd not in down:
            raise Refused(f"osd.{osd} is still up; mark it down first")
        ceph.setdefault("purged", []).append(osd)
        return ""
    if len(args) == 4 and args[:3] == ["osd", "crush", "rm"]:
        if any(host == args[3] for _, host in osds):
            raise Refused(f"host {args[3]} is not empty")
        ceph.setdefault("crush_removed", []).append(args[3])
        return ""
    if cmd == "osd tree":
        # a host bucket stays in CRUSH once it held an OSD, until `osd crush rm`
        hosts: dict[str, list[int]] = {h: [] for h in set(ceph.get("osd_hosts", {}).values())
                                       if h not in ceph.get("crush_removed", [])}
        for i, host in osds:
            hosts[host].append(i)
        nodes = [{"id": -1, "name": "default", "type": "root",
                  "children": [-2 - n for n in range(len(hosts))]}]
        for n, (host, ids) in enumerate(sorted(hosts.items())):
            nodes.append({"id": -2 - n, "name": host, "type": "host", "children": ids})
        nodes += [{"id": i, "name": f"osd.{i}", "type": "osd", "status": "up"} for i, _ in osds]
        return {"nodes": nodes, "stray": []}
    if cmd == "osd status":
        return "ID  HOST  USED  AVAIL  WR OPS  WR DATA  RD OPS  RD DATA  STATE\n" + "".join(
            f"{i}  {host}  1024M  9216M  0  0  0  0  exists{'' if i in down else ',up'}\n"
            for i, host in osds)
    if cmd == "osd pool ls detail":
        return pools
    if cmd in ("health detail", "health"):
        return _health(ceph)
    if cmd == "status":
        pgs = sum(p["pg_num"] for p in pools)
        return {"health": {"status": _health(ceph)["status"]},
                "monmap": {"num_mons": 3},
                "osdmap": {"num_osds": len(osds), "num_up_osds": sum(i not in down for i, _ in osds),
                           "num_in_osds": sum(i not in out for i, _ in osds)},
                "pgmap": {"num_pgs": pgs,
                          "pgs_by_state": [{"state_name": "active+clean", "count": pgs}] if pgs else []}}
    if cmd == "df":
        return {"stats": {"total_bytes": OSD_BYTES * len(osds), "num_osds": len(osds)},
                "pools": [{"name": p["pool_name"], "id": p["pool"], "stats": {"objects": 0}}
                          for p in pools]}
    if len(args) == 3 and args[:2] == ["fs", "status"]:
        fs = next((f for f in _objects("CephFilesystem") if f["metadata"]["name"] == args[2]), None)
        if fs is None:
            raise Refused(f"Filesystem not found: '{args[2]}'")
        mds = fs["spec"]["metadataServer"]
        active = mds.get("activeCount", 1)
        daemons = [{"name": f"{args[2]}-{chr(97 + i)}", "state": "active"} for i in range(active)]
        if mds.get("activeStandby"):
            daemons += [{"name": f"{args[2]}-{chr(97 + active + i)}", "state": "standby-replay"}
                        for i in range(active)]
        return {"mdsmap": daemons, "pools": [
            {"name": f"{args[2]}-metadata", "type": "metadata"},
            *({"name": f"{args[2]}-{dp['name']}", "type": "data"} for dp in fs["spec"]["dataPools"])]}
    if args[:3] == ["osd", "pool", "set"] and len(args) == 6:
        if args[3] not in {p["pool_name"] for p in pools}:
            raise Refused(f"unrecognized pool '{args[3]}'")
        ceph.setdefault("pool_set", {}).setdefault(args[3], {})[args[4]] = args[5]
        return ""
    if args[:3] == ["osd", "pool", "get"] and len(args) == 5:
        pool = next(p for p in pools if p["pool_name"] == args[3])
        return {args[4]: pool.get(args[4])}
    raise Refused(" ".join(argv))


def ceph_main(argv: list[str]) -> int:
    """``kubectl exec … -- TOOL ARGS`` into the toolbox."""
    want_json = False
    if argv[:2] == ["ceph", "--connect-timeout"]:   # how long the client waits for the mons
        argv = argv[:1] + argv[3:]
    if "--format" in argv:
        i = argv.index("--format")
        want_json = argv[i + 1] == "json"
        argv = argv[:i] + argv[i + 2:]
    ceph = _load("ceph.json", {})
    stdin = sys.stdin.buffer.read() if "-" in argv and argv[0] in ("rados", "rbd") and (
        "put" in argv or "import" in argv) else b""
    try:
        answer = ceph_command(argv, ceph, stdin)
    except Refused as exc:
        sys.stderr.write(f"ceph stand-in: not modelled or refused: {exc}\n")
        return 22
    _save("ceph.json", ceph)
    if isinstance(answer, bytes):
        sys.stdout.buffer.write(answer)
    elif isinstance(answer, str):
        sys.stdout.write(answer)
    else:
        sys.stdout.write(json.dumps(answer) if want_json else json.dumps(answer, indent=1))
    return 0


def kubectl_main(argv: list[str]) -> int:
    """The ``kubectl`` on PATH: logs each call; toolbox exec goes to the Ceph model; counting
    the OSD deployments answers from the model; anything else succeeds silently."""
    with open(world_dir() / "kubectl.log", "a") as fh:
        fh.write(json.dumps(argv) + "\n")
    if "exec" in argv and "--" in argv:
        rest = argv[argv.index("--") + 1:]
        if any("rook-ceph-tools" in a for a in argv):
            return ceph_main(rest)
        return 0
    if "get" in argv and "--no-headers" in argv and any("app=rook-ceph-osd" in a for a in argv):
        ceph = _load("ceph.json", {})
        for i, _ in _osds(ceph):
            sys.stdout.write(f"rook-ceph-osd-{i}   1/1   1   1   1m\n")
        _save("ceph.json", ceph)
        return 0
    return 0


KUBECTL_SCRIPT = """#!{python}
import sys
sys.path.insert(0, {root!r})
from tests.contract_world import kubectl_main
sys.exit(kubectl_main(sys.argv[1:]))
"""


def install_tools(bin_dir: Path, root: Path) -> None:
    """kubectl (this module), helm and curl (succeed) and the vagrant stand-in on PATH."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(KUBECTL_SCRIPT.format(python=sys.executable, root=str(root)))
    kubectl.chmod(0o755)
    for tool, text in (("helm", "exit 0"), ("curl", "exit 0"),
                       ("VBoxManage", "echo 7.1.4r165100")):   # a release the lab's Vagrant drives
        path = bin_dir / tool
        path.write_text(f"#!/bin/sh\n{text}\n")
        path.chmod(0o755)
    vagrant = bin_dir / "vagrant"
    if not vagrant.exists():
        vagrant.symlink_to(root / "tests" / "fake_vagrant" / "vagrant")
