"""Container images written on this machine, for the nodes' containerd: no registry is reached.

Every image the cluster runs is a docker-archive tar (the layout ``docker save`` writes and
``ctr images import`` reads: ``manifest.json`` naming a config blob, the image's names and its
layer blobs) written here from programs built on this machine and from Debian roots:

- :func:`write_archive` writes one image from :class:`Layer` s, each a directory tree and/or
  a few :class:`Entry` s, streaming the layers through temporary files (a 1 GB root never sits
  in memory). The bytes depend on the inputs only: entries sorted, mtime 0, no user or group
  names, no times anywhere. Layers are uncompressed tars, each named by its sha256 (= its
  diff_id); containerd stores content by digest and unpacks a layer chain once, so a layer
  two images share (the control-plane images' base) is held and unpacked once per node.
- :func:`catalogue` lists the images ``kubeadm config images list`` asks for
  (:func:`kubeadm_images`), with the programs in ``bin_dir``: the control-plane ones on one
  small shared layer of passwd/group/nsswitch.conf and ``/tmp`` plus the static program,
  kube-proxy on a Debian root holding iptables, ipset and conntrack (:func:`proxy_base`).
- :func:`ensure` keeps each archive in ``<cache>/images/<name>-<tag>-<key>.tar``, ``key`` a
  digest of everything the bytes come from; :func:`load` imports archives into a node's
  containerd through any ``run(argv)`` and skips the ones already there.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Optional, Sequence

from ..errors import LabError
from .. import versions
from ..local import ghost_install, rootfs

#: Part of every archive's cache key: bump when the bytes written for the same inputs change.
WRITER_REVISION = 1
REGISTRY = "registry.k8s.io"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: The sandbox image: containerd's CRI ``sandbox_image`` must name it (Debian's containerd
#: 1.6 defaults to pause:3.6, which it would try to pull).
PAUSE_IMAGE = f"{REGISTRY}/pause:{versions.PAUSE}"
#: The label :func:`load` puts on an imported image: the key of the archive it came from.
LABEL = "cephlab.archive"
#: Every time an image carries (config, history): the epoch, as reproducible builds do.
CREATED = "1970-01-01T00:00:00Z"

Say = Callable[[str], None]
Run = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


# ------------------------------------------------------------------------ what a layer holds
@dataclass(frozen=True)
class Entry:
    """One path of a layer, relative to the image's root: a copy of a host file (``source``),
    given bytes (``data``), a symlink (``link``), or else a directory."""

    path: str
    source: Optional[Path] = None
    data: Optional[bytes] = None
    link: Optional[str] = None
    mode: Optional[int] = None  #: None: the source's mode; 0o644 for data; 0o755 for a directory


def copy(path: str, source: Path, mode: Optional[int] = None) -> Entry:
    return Entry(path.strip("/"), source=Path(source), mode=mode)


def text(path: str, content: str, mode: int = 0o644) -> Entry:
    return Entry(path.strip("/"), data=content.encode(), mode=mode)


def directory(path: str, mode: int = 0o755) -> Entry:
    return Entry(path.strip("/"), mode=mode)


def symlink(path: str, target: str) -> Entry:
    return Entry(path.strip("/"), link=target)


@dataclass(frozen=True)
class Layer:
    """A directory tree (``root``) and/or ``entries`` (an entry replaces the root's path of
    the same name; missing parent directories of entries are added, 0755)."""

    root: Optional[Path] = None
    entries: tuple[Entry, ...] = ()
    #: Paths under ``root`` left out, with everything below them.
    exclude: frozenset[str] = frozenset()
    #: Keep the numeric owners of ``root``'s files (a Debian root's own users); else 0:0.
    owners: bool = False
    #: What identifies ``root``'s content in cache keys (e.g. the digest of a root's
    #: manifest); None: a digest of every path's metadata, walked each time.
    key: Optional[str] = None
    comment: str = ""


@dataclass(frozen=True)
class ImageSpec:
    name: str  #: repository, e.g. registry.k8s.io/kube-apiserver
    tag: str
    layers: tuple[Layer, ...]
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = (PATH_ENV,)
    workdir: str = "/"
    user: str = ""
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.tag}"

    @property
    def short(self) -> str:
        return self.name.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Written:
    path: Path
    ref: str
    config_digest: str  #: sha256:… of the config JSON: the image id CRI reports
    diff_ids: tuple[str, ...]
    size: int


# ------------------------------------------------------------------------ layer tars
_TAR = dict(format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape")


class _Digesting:
    """A write-only file that hashes and counts what goes through it."""

    def __init__(self, out: BinaryIO):
        self.out, self.sha, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data)


def _paths(root: Path, exclude: frozenset[str]) -> list[str]:
    out: list[str] = []

    def visit(rel: str) -> None:
        with os.scandir(root / rel if rel else root) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            child = f"{rel}/{e.name}" if rel else e.name
            if child in exclude:
                continue
            out.append(child)
            if e.is_dir(follow_symlinks=False):
                visit(child)

    visit("")
    return out


def _members(layer: Layer) -> Iterator["_Member"]:
    """(header, file to copy, bytes to write) for every member of ``layer``, in order."""
    entries = {e.path: e for e in layer.entries}
    tree = _paths(layer.root, layer.exclude) if layer.root else []
    have = set(tree) | set(entries)
    parents = {p for e in entries for p in _parents(e) if p not in have}
    order = sorted(set(tree) | set(entries) | parents)
    first_of_inode: dict[tuple[int, int], str] = {}
    for name in order:
        info = tarfile.TarInfo(name)
        if name in entries:
            yield _entry_member(info, entries[name])
        elif name in parents:
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            yield info, None, None
        else:
            assert layer.root is not None
            path = layer.root / name
            st = os.lstat(path)
            info.mode = stat.S_IMODE(st.st_mode)
            if layer.owners:
                info.uid, info.gid = st.st_uid, st.st_gid
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                yield info, None, None
            elif stat.S_ISLNK(st.st_mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
                yield info, None, None
            elif stat.S_ISREG(st.st_mode):
                inode = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and inode in first_of_inode:
                    info.type, info.linkname = tarfile.LNKTYPE, first_of_inode[inode]
                    yield info, None, None
                    continue
                first_of_inode[inode] = name
                info.size = st.st_size
                yield info, path, None
            # device nodes, fifos and sockets are not part of an image: the runtime makes /dev


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


_Member = tuple[tarfile.TarInfo, Optional[Path], Optional[bytes]]


def _entry_member(info: tarfile.TarInfo, e: Entry) -> _Member:
    if e.link is not None:
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, e.link, 0o777
        return info, None, None
    if e.source is not None:
        st = os.stat(e.source)
        info.mode = e.mode if e.mode is not None else stat.S_IMODE(st.st_mode)
        info.size = st.st_size
        return info, e.source, None
    if e.data is not None:
        info.mode, info.size = (0o644 if e.mode is None else e.mode), len(e.data)
        return info, None, e.data
    info.type, info.mode = tarfile.DIRTYPE, 0o755 if e.mode is None else e.mode
    return info, None, None


def write_layer(layer: Layer, out: BinaryIO) -> None:
    """The uncompressed layer tar of ``layer``, streamed to ``out``."""
    with tarfile.open(fileobj=out, mode="w|", **_TAR) as tar:  # type: ignore[call-overload]
        for info, source, data in _members(layer):
            if source is not None:
                with open(source, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info, io.BytesIO(data) if data is not None else None)


# ------------------------------------------------------------------------ the archive
def config_json(spec: ImageSpec, diff_ids: Sequence[str]) -> bytes:
    """The image config (the fields containerd and its CRI plugin read), canonical JSON."""
    doc = {
        "architecture": "amd64",
        "os": "linux",
        "created": CREATED,
        "config": {"Entrypoint": list(spec.entrypoint), "Cmd": list(spec.cmd),
                   "Env": list(spec.env), "WorkingDir": spec.workdir, "User": spec.user,
                   "Labels": dict(spec.labels)},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": CREATED, "created_by": "cephlab.nodes.images",
                     **({"comment": layer.comment} if layer.comment else {})}
                    for layer in spec.layers],
    }
    return _canonical(doc)


def _canonical(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _blob(digest: str) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1]


def write_archive(spec: ImageSpec, dest: Path) -> Written:
    """Write ``spec`` as a docker archive at ``dest`` (replaced only when complete)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    layer_files: list[tuple[Path, str, int]] = []
    partial = dest.with_name(f".{dest.name}.partial")
    try:
        for i, layer in enumerate(spec.layers):
            tmp = dest.with_name(f".{dest.name}.layer{i}")
            layer_files.append((tmp, "", 0))
            with open(tmp, "wb") as f:
                sink = _Digesting(f)
                write_layer(layer, sink)  # type: ignore[arg-type]
            layer_files[i] = (tmp, "sha256:" + sink.sha.hexdigest(), sink.size)
        diff_ids = [d for _, d, _ in layer_files]
        config = config_json(spec, diff_ids)
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        manifest = _canonical([{"Config": _blob(config_digest), "RepoTags": [spec.ref],
                                "Layers": [_blob(d) for d in diff_ids]}])
        blobs: dict[str, tuple[Optional[Path], Optional[bytes]]] = {
            _blob(config_digest): (None, config)}
        for tmp, digest, _ in layer_files:
            blobs.setdefault(_blob(digest), (tmp, None))  # a layer used twice is stored once
        with open(partial, "wb") as raw, \
                tarfile.open(fileobj=raw, mode="w|", **_TAR) as tar:  # type: ignore[call-overload]
            for name in ("blobs", "blobs/sha256"):
                info = tarfile.TarInfo(name)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            for name in sorted(blobs):
                path, data = blobs[name]
                _add_file(tar, name, path, data)
            _add_file(tar, "manifest.json", None, manifest)
        os.replace(partial, dest)
    finally:
        for tmp, _, _ in layer_files:
            tmp.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return Written(dest, spec.ref, config_digest, tuple(diff_ids), dest.stat().st_size)


def _add_file(tar: tarfile.TarFile, name: str, path: Optional[Path], data: Optional[bytes]) -> None:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    if path is not None:
        info.size = path.stat().st_size
        with open(path, "rb") as f:
            tar.addfile(info, f)
    else:
        assert data is not None
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


# ------------------------------------------------------------------------ the cache
def cache_dir(base: Optional[Path] = None) -> Path:
    """``<cache>/images``, beside the kube programs and the roots (``/var/cache/cephlab`` as
    root; ``CEPHLAB_CACHE`` overrides)."""
    return (base or ghost_install.cache_dir()) / "images"


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def tree_key(root: Path, exclude: frozenset[str] = frozenset()) -> str:
    """A digest of every path's metadata under ``root`` (name, type, mode, owner, size,
    mtime, link target): changes whenever a file is rewritten, reads no contents."""
    sha = hashlib.sha256()
    for rel in _paths(root, exclude):
        st = os.lstat(root / rel)
        link = os.readlink(root / rel) if stat.S_ISLNK(st.st_mode) else ""
        sha.update(f"{rel}\0{st.st_mode}\0{st.st_uid}\0{st.st_gid}\0{st.st_size}\0"
                   f"{st.st_mtime_ns}\0{link}\n".encode(errors="surrogateescape"))
    return sha.hexdigest()


def key(spec: ImageSpec) -> str:
    """What an archive of ``spec`` is made from, as a digest: the writer's revision, the
    config, and per layer its root's key and every entry's content digest and mode."""

    def entry(e: Entry) -> dict:
        content = (file_sha256(e.source) if e.source is not None else
                   hashlib.sha256(e.data).hexdigest() if e.data is not None else None)
        mode = e.mode if e.mode is not None or e.source is None else \
            stat.S_IMODE(os.stat(e.source).st_mode)
        return {"path": e.path, "sha256": content, "link": e.link, "mode": mode}

    def layer(lay: Layer) -> dict:
        root = lay.key or (tree_key(lay.root, lay.exclude) if lay.root else None)
        return {"root": root, "exclude": sorted(lay.exclude), "owners": lay.owners,
                "entries": [entry(e) for e in lay.entries], "comment": lay.comment}

    doc = {"writer": WRITER_REVISION, "ref": spec.ref, "entrypoint": spec.entrypoint,
           "cmd": spec.cmd, "env": spec.env, "workdir": spec.workdir, "user": spec.user,
           "labels": spec.labels, "layers": [layer(lay) for lay in spec.layers]}
    return hashlib.sha256(_canonical(doc)).hexdigest()[:16]


@dataclass(frozen=True)
class Archive:
    path: Path
    ref: str
    key: str
    built: bool  #: written by this call (False: found in the cache)
    seconds: float


def archive_path(spec: ImageSpec, digest: str, cache: Optional[Path] = None) -> Path:
    return cache_dir(cache) / f"{spec.short}-{spec.tag}-{digest}.tar"


def cache_decision(path: Path) -> tuple[bool, str]:
    """(reuse?, why) for the archive at ``path``, whose name carries its inputs' key."""
    if not path.is_file():
        return False, "no cached archive"
    try:
        with tarfile.open(path) as tar:
            names = tar.getnames()
    except (tarfile.TarError, OSError) as exc:
        return False, f"the cached archive is unreadable: {exc}"
    if "manifest.json" not in names:
        return False, "the cached archive has no manifest.json"
    return True, f"cached archive {path.name}"


def ensure(spec: ImageSpec, cache: Optional[Path] = None, say: Say = print) -> Archive:
    """The cached archive of ``spec``, written first when the cache holds none for these
    inputs; archives of the same name and tag from other inputs are removed."""
    start = time.monotonic()
    digest = key(spec)
    path = archive_path(spec, digest, cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another lab may be writing the same archive
        reuse, why = cache_decision(path)
        if not reuse:
            say(f"image {spec.ref}: writing {path.name} ({why})")
            write_archive(spec, path)
            for old in path.parent.glob(f"{spec.short}-{spec.tag}-{'?' * len(digest)}.tar"):
                if old != path:
                    old.unlink()
    return Archive(path, spec.ref, digest, not reuse, time.monotonic() - start)


# ------------------------------------------------------------------------ what kubeadm asks for
def kubeadm_images() -> list[str]:
    """What ``kubeadm config images list --kubernetes-version v<KUBERNETES>`` prints, in its
    order (kubeadm's defaults: registry.k8s.io, kube-proxy and CoreDNS on, a local etcd)."""
    k = f"v{versions.KUBERNETES}"
    return [f"{REGISTRY}/kube-apiserver:{k}", f"{REGISTRY}/kube-controller-manager:{k}",
            f"{REGISTRY}/kube-scheduler:{k}", f"{REGISTRY}/kube-proxy:{k}",
            f"{REGISTRY}/coredns/coredns:v{versions.COREDNS}", PAUSE_IMAGE,
            f"{REGISTRY}/etcd:{versions.ETCD_IMAGE_TAG}"]


PASSWD = ("root:x:0:0:root:/root:/sbin/nologin\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
          "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
GROUP = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"


def static_base() -> Layer:
    """The layer every control-plane image shares (so containerd stores it once): users and
    groups, Go's name-service order, a sticky /tmp."""
    return Layer(entries=(text("etc/passwd", PASSWD), text("etc/group", GROUP),
                          text("etc/nsswitch.conf", "hosts: files dns\n"),
                          directory("tmp", 0o1777), directory("root", 0o700)),
                 comment="passwd, group, nsswitch.conf, /tmp")


def is_static(program: Path) -> bool:
    """Whether an x86-64 ELF program has no interpreter (needs no libc from the image)."""
    with open(program, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            raise LabError(f"{program} is not a 64-bit ELF program")
        phoff = int.from_bytes(head[32:40], "little")
        phentsize = int.from_bytes(head[54:56], "little")
        phnum = int.from_bytes(head[56:58], "little")
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    PT_INTERP = 3
    return not any(int.from_bytes(table[i * phentsize:i * phentsize + 4], "little") == PT_INTERP
                   for i in range(phnum))


def _program(bin_dir: Path, name: str, static: bool = True) -> Path:
    path = bin_dir / name
    if not path.is_file():
        raise LabError(f"{path} is missing: the image needs the program built first")
    if static and not is_static(path):
        raise LabError(f"{path} is dynamically linked, and its image has no libc: build it "
                       f"with CGO_ENABLED=0 (or gcc -static)")
    return path


def _top(comment: str, *entries: Entry) -> Layer:
    return Layer(entries=tuple(entries), comment=comment)


def catalogue(bin_dir: Path, proxy_root: Optional["BaseRoot"] = None) -> list[ImageSpec]:
    """The images kubeadm asks for (:func:`kubeadm_images`, same order), from the programs
    in ``bin_dir``; kube-proxy's only when its Debian root is given."""
    k = f"v{versions.KUBERNETES}"
    base = static_base()
    specs: list[ImageSpec] = []
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        # Like upstream's images: the program in /usr/local/bin (kubeadm's static pods give
        # the command by name, found on PATH).
        program = f"/usr/local/bin/{name}"
        specs.append(ImageSpec(f"{REGISTRY}/{name}", k, (base, _top(
            name, copy(program, _program(bin_dir, name), 0o755))), entrypoint=(program,)))
    if proxy_root is not None:
        # kubeadm's DaemonSet runs /usr/local/bin/kube-proxy; iptables & co. from Debian.
        specs.append(ImageSpec(f"{REGISTRY}/kube-proxy", k, (proxy_root.layer(), _top(
            "kube-proxy", copy("usr/local/bin/kube-proxy",
                               _program(bin_dir, "kube-proxy", static=False), 0o755))),
            entrypoint=("/usr/local/bin/kube-proxy",)))
    # CoreDNS: kubeadm's Deployment gives only args, so the entrypoint is the program. It
    # runs as root here (upstream: user 65532 with a file capability to bind port 53, which
    # needs xattrs in the layer); the Deployment drops every capability but NET_BIND_SERVICE.
    specs.append(ImageSpec(f"{REGISTRY}/coredns/coredns", f"v{versions.COREDNS}",
                           (base, _top("coredns", copy("coredns", _program(bin_dir, "coredns"),
                                                       0o755))),
                           entrypoint=("/coredns",)))
    specs.append(ImageSpec(f"{REGISTRY}/pause", versions.PAUSE,
                           (base, _top("pause", copy("pause", _program(bin_dir, "pause"), 0o755))),
                           entrypoint=("/pause",), user="65535:65535"))
    etcd = [copy(f"usr/local/bin/{p}", _program(bin_dir, p), 0o755)
            for p in ("etcd", "etcdctl", "etcdutl") if p == "etcd" or (bin_dir / p).is_file()]
    specs.append(ImageSpec(f"{REGISTRY}/etcd", versions.ETCD_IMAGE_TAG,
                           (base, _top("etcd", *etcd)), cmd=("/usr/local/bin/etcd",)))
    return specs


def kubeadm_archives(bin_dir: Path, say: Say = print, cache: Optional[Path] = None
                     ) -> list[Archive]:
    """Every image kubeadm asks for, as cached archives (kube-proxy's Debian root built
    first when needed), in :func:`kubeadm_images` order."""
    return [ensure(spec, cache, say) for spec in catalogue(bin_dir, proxy_base(say))]


# ------------------------------------------------------------------------ kube-proxy's root
PROXY_SUITE = "bookworm"
#: What kube-proxy runs besides itself (iptables brings ip6tables and the -save/-restore tools).
PROXY_PACKAGES = ("iptables", "ipset", "conntrack")
PROXY_REQUIRED = ("usr/sbin/iptables", "usr/sbin/ip6tables", "usr/sbin/iptables-restore",
                  "usr/sbin/ipset", "usr/sbin/conntrack")
#: Bump when the way the base root is built changes (part of its cache key).
BASE_REVISION = 1
#: Removed from the root after the install: nothing in a container reads them.
PRUNED = ("usr/share/doc", "usr/share/man", "usr/share/info", "var/lib/apt/lists",
          "var/cache/apt", "var/log")
#: The build's files in the root that are not part of the image (the runtime provides
#: hostname and resolv.conf).
NOT_IMAGED = frozenset({rootfs.MANIFEST, "etc/hostname", "etc/resolv.conf"})


def proxy_wanted() -> dict:
    return {"suite": PROXY_SUITE, "packages": sorted(PROXY_PACKAGES), "builder": BASE_REVISION,
            "pruned": list(PRUNED)}


def proxy_root_path(base: Optional[Path] = None) -> Path:
    name = f"kube-proxy-{PROXY_SUITE}-{rootfs.digest(proxy_wanted())}"
    return (base or rootfs.cache_dir()) / name


def base_decision(manifest: Optional[dict], want: dict) -> tuple[bool, str]:
    """(reuse?, why) for a cached base root whose manifest is ``manifest`` (None: no root)."""
    problem = rootfs.manifest_problem(manifest, want, ("suite", "packages", "builder", "pruned"))
    if problem:
        return False, problem
    assert manifest is not None
    installed = manifest["installed"]
    return True, "cached Debian {} root with {}".format(
        want["suite"], ", ".join(f"{p} {installed[p]}" for p in want["packages"]))


@dataclass(frozen=True)
class BaseRoot:
    path: Path
    manifest: dict
    built: bool
    seconds: float

    @property
    def manifest_digest(self) -> str:
        return file_sha256(self.path / rootfs.MANIFEST)

    def layer(self) -> Layer:
        return Layer(root=self.path, exclude=NOT_IMAGED, owners=True, key=self.manifest_digest,
                     comment=f"Debian {self.manifest['suite']} minbase + "
                             f"{' '.join(self.manifest['packages'])}")


def proxy_base(say: Say = print, base: Optional[Path] = None) -> BaseRoot:
    """The cached Debian root kube-proxy's image is made on, built first when needed
    (debootstrap --variant=minbase + apt-get install, from the mirror this machine's apt
    uses; root only)."""
    start = time.monotonic()
    path, want = proxy_root_path(base), proxy_wanted()

    def build(why: str) -> None:
        say(f"kube-proxy image: building a Debian {PROXY_SUITE} root ({why})")
        _build_base(path, want, say, path.parent / f"{path.name}.build.log")
    manifest, built = rootfs.cached_or_built(path, want, base_decision, build, ".kube-proxy.lock")
    return BaseRoot(path, manifest, built, time.monotonic() - start)


def _build_base(path: Path, want: dict, say: Say, log: Path) -> None:
    with rootfs.bootstrapped(path, PROXY_SUITE, say, log, "kube-proxy's Debian root") as b:
        tmp = b.tmp
        b.runner.step(f"apt-get install {' '.join(want['packages'])}",
                      [*b.inside, "apt-get", "install", "-y", "-q", "--no-install-recommends",
                       *want["packages"]], say, timeout=1200)
        subprocess.run([*b.inside, "apt-get", "clean"], capture_output=True)
    missing = [p for p in PROXY_REQUIRED if not _exists_in(tmp, p)]
    if missing:
        raise LabError(f"the root built in {tmp} lacks {', '.join(missing)}; log: {log}")
    installed = rootfs._installed(tmp)
    for rel in PRUNED:
        for child in (tmp / rel).iterdir() if (tmp / rel).is_dir() else ():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    rootfs.commit(tmp, path, {**want, "mirror": b.mirror, "installed": installed})
    for old in path.parent.glob(f"kube-proxy-{PROXY_SUITE}-*"):
        if old != path and old.is_dir() and not old.name.endswith(".tmp"):
            say(f"  removing the superseded root {old}")
            shutil.rmtree(old)
            old.with_name(old.name + ".build.log").unlink(missing_ok=True)


def _exists_in(root: Path, rel: str) -> bool:
    """Whether ``rel`` exists in ``root`` seen from inside (absolute symlinks, such as
    Debian's alternatives, resolved against ``root``)."""
    for _ in range(16):
        path = root / rel
        if not path.is_symlink():
            return path.exists()
        target = os.readlink(path)
        rel = os.path.normpath(target.lstrip("/") if target.startswith("/")
                               else os.path.join(os.path.dirname(rel), target))
    return False


# ------------------------------------------------------------------------ into a node
@dataclass(frozen=True)
class Ctr:
    """How ``ctr`` is called on a node: its argv prefix (a socket of its own:
    ``("ctr", "--address", SOCK)``) and the namespace kubelet's CRI plugin uses."""

    argv: tuple[str, ...] = ("ctr",)
    namespace: str = "k8s.io"

    def __call__(self, *args: str) -> list[str]:
        return [*self.argv, "-n", self.namespace, *args]


def node_images(run: Run, ctr: Ctr = Ctr()) -> dict[str, dict[str, str]]:
    """Every image in the node's namespace: name → labels (``ctr images ls``)."""
    out = _checked(run, ctr("images", "ls"))
    images: dict[str, dict[str, str]] = {}
    for line in out.splitlines()[1:]:  # REF TYPE DIGEST SIZE(2 words) PLATFORMS LABELS
        fields = line.split()
        if not fields:
            continue
        labels = fields[-1] if len(fields) >= 7 else "-"
        images[fields[0]] = dict(kv.split("=", 1) for kv in labels.split(",")
                                 if "=" in kv) if labels != "-" else {}
    return images


def load(archives: Sequence[Archive], run: Run, where: Callable[[Path], str] = str,
         ctr: Ctr = Ctr(), snapshotter: Optional[str] = None, say: Say = print) -> list[str]:
    """Import every archive the node does not hold yet (same name, label ``cephlab.archive``
    equal to the archive's key) and return the names imported. ``where`` maps an archive's
    path here to the path the node sees. Import unpacks for ``snapshotter`` (ctr's default:
    overlayfs, the CRI plugin's default too), so the first pod does not wait for it
    (containerd 1.6.20's CRI also unpacks an image imported with ``--no-unpack`` when a
    sandbox or container first needs it: seen here)."""
    present = node_images(run, ctr)
    imported = []
    for archive in archives:
        if present.get(archive.ref, {}).get(LABEL) == archive.key:
            continue
        start = time.monotonic()
        extra = ["--snapshotter", snapshotter] if snapshotter else []
        _checked(run, ctr("images", "import", *extra, where(archive.path)))
        _checked(run, ctr("images", "label", archive.ref, f"{LABEL}={archive.key}"))
        say(f"  imported {archive.ref} ({time.monotonic() - start:.1f}s)")
        imported.append(archive.ref)
    return imported


def missing(run: Run, wanted: Optional[Sequence[str]] = None, ctr: Ctr = Ctr()) -> list[str]:
    """The images kubeadm asks for (or ``wanted``) that the node lacks."""
    names = set(_checked(run, ctr("images", "ls", "-q")).split())
    return [ref for ref in (wanted if wanted is not None else kubeadm_images())
            if ref not in names]


def _checked(run: Run, argv: list[str]) -> str:
    done = run(argv)
    if done.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed (exit {done.returncode}): "
                       f"{(done.stderr or done.stdout or '').strip()[-500:]}")
    return done.stdout or ""
