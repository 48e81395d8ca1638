"""Stand-in ``kubectl``, ``curl`` and ``helm`` over one :class:`FakeCluster` state file.

``install(bin_dir, state, log)`` writes the three executables; each appends its argv to
``log`` (one line, tool and args) and acts on the cluster in ``state``:

- ``kubectl apply --server-side -f URL|-`` (field manager ``kubectl``; conflicts refused
  without ``--force-conflicts``), ``create token SA``, ``scale``, ``taint``, ``get``,
  ``delete``, ``exec`` (refused into a missing workload; the toolbox answers ``ceph``/``rados``
  with the cluster's OSDs and pools), ``debug node/N`` (reads the script), ``version``;
- ``curl URL``: an upstream manifest the stand-in knows (:func:`cephlab.k8s.made_by_others.url_objects`;
  a marker document naming the URL, and operator.yaml's config lines), 404 for one it does
  not know, or a NodePort: answers 200 when a Service of the cluster opens that port, else
  exit 7; ``kubectl apply -f -`` of a marker document makes what that manifest makes;
- ``helm upgrade --install``: the chart's objects (:data:`cephlab.k8s.made_by_others.FROM_HELM`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cephlab import versions  # noqa: E402
from cephlab.k8s import made_by_others  # noqa: E402
from tests.standins import ceph  # noqa: E402
from tests.standins.cluster import ApiError, FakeCluster  # noqa: E402

#: the lines of Rook's operator.yaml the plan relies on (v1.20.6 deploy/examples/operator.yaml)
OPERATOR_YAML = """kind: ConfigMap
apiVersion: v1
metadata:
  name: rook-ceph-operator-config
  namespace: rook-ceph # namespace:operator
data:
  ROOK_LOG_LEVEL: "INFO"
  ROOK_CEPH_ALLOW_LOOP_DEVICES: "false"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: rook-ceph-operator
  namespace: rook-ceph # namespace:operator
  labels:
    app: rook-ceph-operator
spec:
  replicas: 1
  template:
    metadata:
      labels:
        app: rook-ceph-operator
"""
TOOLS = ("kubectl", "curl", "helm")
#: The kind of the marker document the stand-in curl serves for an upstream manifest.
UPSTREAM = "StandInUpstreamManifest"


def install(bin_dir: Path, state: Path, log: Path) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS:
        path = bin_dir / tool
        path.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                        f"from tests.standins.tools import main\n"
                        f"sys.exit(main({tool!r}, sys.argv[1:], {str(state)!r}, {str(log)!r}))\n")
        path.chmod(0o755)
    return bin_dir


def main(tool: str, argv: list[str], state: str, log: str) -> int:
    with open(log, "a") as fh:
        fh.write(" ".join([tool, *argv]) + "\n")
    try:
        cluster = FakeCluster(Path(state))
        return {"kubectl": kubectl, "curl": curl, "helm": helm}[tool](cluster, list(argv))
    except ApiError as exc:
        sys.stderr.write(str(exc) + "\n")
        return exc.code


def _flag(argv: list[str], name: str, default=None):
    if name in argv:
        i = argv.index(name)
        value = argv[i + 1]
        del argv[i:i + 2]
        return value
    for a in list(argv):
        if a.startswith(name + "="):
            argv.remove(a)
            return a.split("=", 1)[1]
    return default


def kubectl(cluster: FakeCluster, argv: list[str]) -> int:
    _flag(argv, "--context")
    _flag(argv, "--kubeconfig")
    ns = _flag(argv, "-n", "default")
    if "--" in argv:
        argv, inner = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    else:
        inner = []
    verb, rest = argv[0], argv[1:]
    if verb == "version":
        print("Client Version: v1.34.9\nServer Version: v1.34.9")
        return 0
    if verb == "apply":
        force = "--force-conflicts" in rest
        manager = _flag(rest, "--field-manager", "kubectl")
        source = _flag(rest, "-f")
        if source == "-":
            docs = [d for d in yaml.safe_load_all(sys.stdin.read()) if d]
            for d in docs:
                if d.get("kind") == UPSTREAM:
                    cluster.add_provided(made_by_others.url_objects(d["url"]))
                else:
                    cluster.apply(d, manager, force=force)
            return 0
        if source.startswith("https://"):     # as a person may type it
            if source == versions.ROOK_MANIFESTS[3]:
                for d in yaml.safe_load_all(OPERATOR_YAML):
                    cluster.apply(d, manager, force=force)
            made = made_by_others.url_objects(source)
            if made is None:
                raise ApiError(f"error: unable to read URL {source!r}: 404 Not Found")
            cluster.add_provided(made)
            return 0
        raise ApiError(f"the stand-in kubectl does not read {source}")
    if verb == "create" and rest[:1] == ["token"]:
        if not cluster.exists("ServiceAccount", rest[1], ns):
            raise ApiError(f'error: failed to create token: serviceaccounts "{rest[1]}" not found')
        print("stand-in-token-not-a-credential")
        return 0
    if verb == "scale":
        name = rest[0].split("/", 1)[1]
        cluster.scale(name, ns, int(_flag(rest, "--replicas")))
        return 0
    if verb == "taint":
        node = cluster.get("Node", rest[1])
        if node is None:
            raise ApiError(f'Error from server (NotFound): nodes "{rest[1]}" not found')
        taint = rest[2]
        taints = (node.get("spec") or {}).get("taints") or []
        key, _, effect = taint.rstrip("-").partition(":")
        if taint.endswith("-"):
            kept = [t for t in taints if not (t["key"] == key and t["effect"] == effect)]
            if len(kept) == len(taints):
                raise ApiError(f'error: taint "{taint.rstrip("-")}" not found')
        else:
            kept = taints + [{"key": key, "effect": effect}]
        cluster.patch("Node", rest[1], None, {"spec": {"taints": kept}})
        return 0
    if verb == "get":
        what = rest[0] if rest else ""
        if "-l" in rest and "--no-headers" in rest:
            selector = rest[rest.index("-l") + 1]
            kind = {"deploy": "Deployment", "pod": "Pod", "pods": "Pod"}.get(what, what)
            k, _, v = selector.partition("=")
            for o in cluster.items(kind, ns):
                if ((o.get("metadata") or {}).get("labels") or {}).get(k) == v:
                    print(o["metadata"]["name"])
            return 0
        print(f"(stand-in) get {' '.join(rest)}")
        return 0
    if verb == "delete":
        kinds = {"deploy": "Deployment", "persistentvolumeclaim": "PersistentVolumeClaim",
                 "persistentvolume": "PersistentVolume", "pvc": "PersistentVolumeClaim",
                 "pv": "PersistentVolume"}
        if "-l" in rest:
            k, _, v = rest[rest.index("-l") + 1].partition("=")
            kind = kinds.get(rest[0], rest[0])
            for o in cluster.items(kind, None if kind == "PersistentVolume" else ns):
                if ((o.get("metadata") or {}).get("labels") or {}).get(k) == v:
                    cluster.delete(kind, o["metadata"]["name"], o["metadata"].get("namespace"))
            return 0
        kind, _, name = rest[0].partition("/")
        kind = kinds.get(kind, kind)
        if not cluster.delete(kind, name, ns) and "--ignore-not-found" not in rest:
            raise ApiError(f'Error from server (NotFound): {kind.lower()}s "{name}" not found')
        return 0
    if verb == "exec":
        short, _, name = next(a for a in rest if "/" in a).partition("/")
        kind = {"deploy": "Deployment", "pod": "Pod"}[short]
        if not cluster.exists(kind, name, ns):
            raise ApiError(f'Error from server (NotFound): {"deployments.apps" if kind == "Deployment" else "pods"} '
                           f'"{name}" not found')
        if name == "rook-ceph-tools":
            return toolbox(cluster, inner)
        return 0
    if verb == "debug":
        sys.stdin.read()
        return 0
    raise ApiError(f"the stand-in kubectl does not know `{verb}`")


def toolbox(cluster: FakeCluster, argv: list[str]) -> int:
    """The Ceph CLI of the toolbox: what changes the cluster here, what reads it from the
    model of :mod:`tests.standins.ceph`."""
    tool, args = argv[0], [a for a in argv[1:]]
    _flag(args, "--connect-timeout")
    want_json = _flag(args, "--format") == "json"
    osds = cluster.state["osds"]
    if args[:2] == ["osd", "ls-tree"]:
        print("\n".join(i for i, o in sorted(osds.items()) if o["host"] == args[2]))
        return 0
    if args[:1] == ["osd"] and args[1] in ("out", "down", "safe-to-destroy", "purge"):
        i = args[2].removeprefix("osd.")
        if i not in osds:
            raise ApiError(f"Error ENOENT: osd.{i} does not exist", 2)
        osd = osds[i]
        running = cluster.osd_pods(i)
        if args[1] == "out":
            osd["in"] = False
        elif args[1] == "down":
            osd["up"] = bool(running)          # a running daemon marks itself up again
        elif args[1] == "safe-to-destroy":
            if osd["in"]:
                raise ApiError(f"Error EAGAIN: OSD(s) {i} have PGs; not safe to destroy", 11)
            return 0
        elif args[1] == "purge":
            if osd["up"] or running:
                raise ApiError(f"Error EBUSY: osd.{i} is still up; must be down before removal.", 16)
            del osds[i]
        cluster.save()
        return 0
    if args[:3] == ["osd", "crush", "rm"]:
        if any(o["host"] == args[3] for o in osds.values()):
            raise ApiError("Error ENOTEMPTY: (39) Directory not empty", 39)
        if args[3] not in cluster.state.get("crush_removed", []):
            cluster.state.setdefault("crush_removed", []).append(args[3])
            cluster.save()
        return 0
    if args[:3] == ["osd", "pool", "create"]:
        pools = cluster.state["pools"]
        if args[3] in pools:
            print(f"pool '{args[3]}' already exists")
        else:
            pools[args[3]] = {"args": args[4:]}
        cluster.save()
        return 0
    if args[:3] in (["osd", "pool", "set"], ["osd", "pool", "get"]):
        known = {p["pool_name"] for p in ceph.pools(cluster)} | set(cluster.state["pools"])
        if args[3] not in known:
            raise ApiError(f"Error ENOENT: unrecognized pool '{args[3]}'", 2)
        pool = cluster.state["pools"].setdefault(args[3], {})
        if args[2] == "set":
            pool[args[4]] = args[5]
            cluster.save()
        else:
            model = next((q for q in ceph.pools(cluster) if q["pool_name"] == args[3]), {})
            value = model.get(args[4], pool.get(args[4], ""))
            print(json.dumps({args[4]: value}) if want_json else f"{args[4]}: {value}")
        return 0
    stdin = sys.stdin.buffer.read() if "-" in args and ("put" in args or "import" in args) else b""
    try:
        out = ceph.answer(cluster, [tool, *args], stdin)
    except ceph.Refused as exc:
        raise ApiError(f"the stand-in toolbox refuses or does not model `{' '.join(argv)}`: {exc}",
                       22) from None
    cluster.save()
    if isinstance(out, bytes):
        sys.stdout.buffer.write(out)
    elif isinstance(out, str):
        sys.stdout.write(out)
    else:
        sys.stdout.write(json.dumps(out) if want_json else json.dumps(out, indent=1))
    return 0


def curl(cluster: FakeCluster, argv: list[str]) -> int:
    url = argv[-1]
    if "--retry" in argv and made_by_others.url_objects(url) is not None:   # a download of the plan
        sys.stdout.write(yaml.safe_dump({"kind": UPSTREAM, "url": url}))
        if url == versions.ROOK_MANIFESTS[3]:
            sys.stdout.write("---\n" + OPERATOR_YAML)
        return 0
    if urlsplit(url).port is None:
        sys.stderr.write(f"curl: (22) The requested URL returned error: 404 ({url})\n")
        return 22
    port = urlsplit(url).port
    for svc in cluster.items("Service"):
        if any(p.get("nodePort") == port for p in (svc.get("spec") or {}).get("ports") or []):
            print("200")
            return 0
    sys.stderr.write(f"curl: (7) Failed to connect to port {port}: Connection refused\n")
    return 7


def helm(cluster: FakeCluster, argv: list[str]) -> int:
    if argv[:2] != ["upgrade", "--install"]:
        raise ApiError(f"the stand-in helm does not know `{' '.join(argv)}`")
    release = argv[2]
    ns = argv[argv.index("--namespace") + 1]
    if "--create-namespace" in argv and not cluster.exists("Namespace", ns):
        cluster.add_provided([m for m in made_by_others.FROM_HELM[release] if m.ref.kind == "Namespace"])
    cluster.add_provided(made_by_others.FROM_HELM[release])
    return 0
