"""The Ceph CLI of the stand-in Rook toolbox, answered from the stand-in cluster's state
(:class:`tests.standins.cluster.FakeCluster`): the OSDs Rook's operator made from the
CephCluster's devices (with their up/in flags), the pools the CephBlockPool and
CephFilesystem objects ask for (with what ``osd pool set`` changed), 3 mons, one mgr, the
MDS daemons the CephFilesystem asks for, RBD images and RADOS objects written through it.

Read commands answer in Ceph's own JSON shapes (what cephlab.ceph_checks reads); commands that
change the cluster are :func:`tests.standins.tools.toolbox`'s. What the model does not know,
it refuses (:class:`Refused`, exit 22 naming the command), so a step it cannot serve goes
red instead of passing. Each OSD is 10 GiB.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

GIB = 1024 ** 3
OSD_BYTES = 10 * GIB


class Refused(Exception):
    """The model does not know this command, or Ceph would refuse it."""


def osds(cluster) -> list[tuple[int, dict]]:
    return sorted((int(i), o) for i, o in cluster.state["osds"].items())


def crush_hosts(cluster) -> list[str]:
    """Host buckets in CRUSH: every host that held an OSD, until ``osd crush rm``."""
    known = set(cluster.state.get("crush_hosts", [])) | {o["host"] for _, o in osds(cluster)}
    return sorted(known - set(cluster.state.get("crush_removed", [])))


def pools(cluster) -> list[dict]:
    if not cluster.items("CephCluster"):
        return []
    found = [(".mgr", 1, 1, {"mgr": {}}, {})]
    for bp in cluster.items("CephBlockPool"):
        params = bp["spec"].get("parameters") or {}
        found.append((bp["metadata"]["name"], bp["spec"]["replicated"]["size"],
                      int(params.get("pg_num", 32)), {"rbd": {}}, params))
    for fs in cluster.items("CephFilesystem"):
        name = fs["metadata"]["name"]
        meta = fs["spec"]["metadataPool"]
        found.append((f"{name}-metadata", meta["replicated"]["size"], 16, {"cephfs": {}}, {}))
        for dp in fs["spec"]["dataPools"]:
            params = dp.get("parameters") or {}
            found.append((f"{name}-{dp['name']}", dp["replicated"]["size"],
                          int(params.get("pg_num", 32)), {"cephfs": {}}, params))
    out = []
    for pool_id, (name, size, pg_num, apps, params) in enumerate(found, start=1):
        pool = {"pool": pool_id, "pool_name": name, "type": 1, "size": size, "pg_num": pg_num,
                "pg_placement_num": pg_num, "application_metadata": apps,
                "pg_autoscale_mode": params.get("pg_autoscale_mode", "on")}
        for key, value in (cluster.state["pools"].get(name) or {}).items():
            if key in ("pg_num", "size"):
                pool[key] = int(value)
                if key == "pg_num":
                    pool["pg_placement_num"] = int(value)
            elif key == "pg_autoscale_mode":
                pool[key] = value
        out.append(pool)
    return out


def health(cluster) -> dict:
    odd = [p["pool_name"] for p in pools(cluster) if p["pg_num"] & (p["pg_num"] - 1)]
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


def _blob(cluster, kind: str, name: str) -> Path:
    path = Path(cluster.path).parent / "ceph-data" / kind / name.replace("/", "%")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def answer(cluster, argv: list[str], stdin: bytes = b"") -> Any:
    """One read (or data) command of ``ceph``/``rados``/``rbd``, ``--format`` removed: a
    document, text or bytes. The caller saves the cluster state afterwards."""
    if not cluster.items("CephCluster"):
        raise Refused("there is no CephCluster, so no Ceph cluster answers")
    tool, args = argv[0], argv[1:]
    present = osds(cluster)
    all_pools = pools(cluster)
    names = {p["pool_name"] for p in all_pools}
    if tool == "rados" and len(args) == 5 and args[0] == "-p" and args[2] in ("put", "get") and args[4] == "-":
        if args[1] not in names:
            raise Refused(f"pool {args[1]} does not exist")
        path = _blob(cluster, "rados", f"{args[1]}/{args[3]}")
        if args[2] == "put":
            path.write_bytes(stdin)
            return ""
        if not path.exists():
            raise Refused(f"error getting {args[1]}/{args[3]}: (2) No such file or directory")
        return path.read_bytes()
    if tool == "rados" and args == ["df"]:
        return {"pools": [{"name": p["pool_name"], "num_objects": 0} for p in all_pools]}
    if tool == "rbd":
        return _rbd(cluster, args, names, stdin)
    if tool != "ceph":
        raise Refused(" ".join(argv))
    cmd = " ".join(args)
    if cmd == "quorum_status":
        return {"quorum_names": ["a", "b", "c"]}
    if cmd == "mgr stat":
        return {"available": True, "active_name": "a", "num_standby": 0}
    if cmd == "osd dump":
        return {"osds": [{"osd": i, "up": int(o["up"]), "in": int(o["in"])} for i, o in present]}
    if cmd == "osd tree":
        hosts = crush_hosts(cluster)
        nodes = [{"id": -1, "name": "default", "type": "root",
                  "children": [-2 - n for n in range(len(hosts))]}]
        for n, host in enumerate(hosts):
            nodes.append({"id": -2 - n, "name": host, "type": "host",
                          "children": [i for i, o in present if o["host"] == host]})
        nodes += [{"id": i, "name": f"osd.{i}", "type": "osd", "status": "up" if o["up"] else "down"}
                  for i, o in present]
        return {"nodes": nodes, "stray": []}
    if cmd == "osd status":
        return "ID  HOST  USED  AVAIL  WR OPS  WR DATA  RD OPS  RD DATA  STATE\n" + "".join(
            f"{i}  {o['host']}  1024M  9216M  0  0  0  0  exists{',up' if o['up'] else ''}\n"
            for i, o in present)
    if cmd == "osd pool ls detail":
        return all_pools
    if cmd in ("health detail", "health"):
        return health(cluster)
    if cmd == "status":
        pgs = sum(p["pg_num"] for p in all_pools)
        return {"health": {"status": health(cluster)["status"]},
                "monmap": {"num_mons": 3},
                "osdmap": {"num_osds": len(present), "num_up_osds": sum(o["up"] for _, o in present),
                           "num_in_osds": sum(o["in"] for _, o in present)},
                "pgmap": {"num_pgs": pgs,
                          "pgs_by_state": [{"state_name": "active+clean", "count": pgs}] if pgs else []}}
    if cmd == "df":
        return {"stats": {"total_bytes": OSD_BYTES * len(present), "num_osds": len(present)},
                "pools": [{"name": p["pool_name"], "id": p["pool"], "stats": {"objects": 0}}
                          for p in all_pools]}
    if len(args) == 3 and args[:2] == ["fs", "status"]:
        return _fs_status(cluster, args[2])
    raise Refused(" ".join(argv))


def _rbd(cluster, args: list[str], pool_names: set[str], stdin: bytes) -> Any:
    images = cluster.state.get("images", {})     # a read leaves the state as it was
    if args[0] in ("import", "create", "resize"):
        images = cluster.state.setdefault("images", {})
    if args[:2] == ["import", "-"]:
        images[args[2]] = len(stdin)
        _blob(cluster, "rbd", args[2]).write_bytes(stdin)
        return ""
    if args[0] == "export" and args[2:] == ["-"]:
        if args[1] not in images:
            raise Refused(f"rbd: error opening image {args[1]}")
        return _blob(cluster, "rbd", args[1]).read_bytes()
    if args[0] in ("create", "resize"):
        if args[1].split("/")[0] not in pool_names:
            raise Refused(f"rbd: error opening pool {args[1].split('/')[0]}")
        images[args[1]] = _size(args[args.index("--size") + 1])
        return ""
    if args[0] == "info":
        if args[1] not in images:
            raise Refused(f"rbd: error opening image {args[1]}")
        return {"name": args[1].split("/")[1], "size": images[args[1]]}
    if args[0] == "ls":
        return [k.split("/")[1] for k in images if k.startswith(args[1] + "/")]
    if args[0] == "rm":
        if args[1] not in images:
            raise Refused(f"rbd: error opening image {args[1]}: (2) No such file or directory")
        images.pop(args[1])
        if not images:        # created and removed again: the state is as it was before
            cluster.state.pop("images", None)
        return ""
    raise Refused("rbd " + " ".join(args))


def _fs_status(cluster, name: str) -> dict:
    fs = next((f for f in cluster.items("CephFilesystem") if f["metadata"]["name"] == name), None)
    if fs is None:
        raise Refused(f"Filesystem not found: '{name}'")
    mds = fs["spec"]["metadataServer"]
    active = mds.get("activeCount", 1)
    daemons = [{"name": f"{name}-{chr(97 + i)}", "state": "active"} for i in range(active)]
    if mds.get("activeStandby"):
        daemons += [{"name": f"{name}-{chr(97 + active + i)}", "state": "standby-replay"}
                    for i in range(active)]
    return {"mdsmap": daemons, "pools": [
        {"name": f"{name}-metadata", "type": "metadata"},
        *({"name": f"{name}-{dp['name']}", "type": "data"} for dp in fs["spec"]["dataPools"])]}
