"""Every program a kubeadm Kubernetes cluster runs, built from Go modules at pinned versions.

Set-up (``python3 -m cephlab setup --kube``) calls :func:`build`; the node images are made from
its output elsewhere. Standard library only: it runs with the system Python. The components
(pins in :mod:`cephlab.versions`):

- ``kubernetes``: kubeadm, kubelet, kubectl, kube-apiserver, kube-controller-manager,
  kube-scheduler, kube-proxy from ``k8s.io/kubernetes``, version-stamped the way
  hack/lib/version.sh stamps a release (kubeadm picks its images by its own version);
- ``etcd`` (etcd, etcdctl), ``coredns``: the versions kubeadm's constants name;
- ``pause``: ``build/pause/linux/pause.c`` of the ``k8s.io/kubernetes`` module, compiled with
  ``gcc -static`` (needs gcc and libc6-dev);
- ``crictl`` (cri-tools) and ``cni-plugins`` (the reference plugins of a Linux release).

Each Go component is built in a generated module of its own, ``<kube>/work/<component>``: a
go.mod requiring the upstream modules at the pin, with upstream's ``go`` and ``godebug``
lines (they set the binary's GODEBUG defaults) and the replaces a dependent module needs
(``k8s.io/kubernetes`` replaces its staging modules with local directories, ignored in a
dependency, so each becomes the module at ``v0.<minor>.<patch>``); then ``go build
-mod=mod -trimpath`` with ``CGO_ENABLED=0``, one program at a time (2-core machines). Go's
module, build and GOPATH caches live in ``<kube>`` too, so an empty cache is a cold build.

Output: ``<cache>/kube/<digest>/bin/<program>`` (``<cache>``: ``/var/cache/cephlab`` as root,
``CEPHLAB_CACHE`` overrides; :func:`cephlab.local.ghost_install.cache_dir`) and
``manifest.json`` beside ``bin``: pins, builder revision, Go version, each binary's sha256
and size, build seconds, kubeadm's image list. The digest covers the pins,
:data:`BUILDER_REVISION` and the Go version; a component is rebuilt when its manifest entry
is missing or names other pins, or a binary is missing or changed size; superseded builds
are removed. One progress line per component; each component's whole output goes to its
log (``<log_dir>/<component>.log``, default ``<cache>/kube/logs``), whose tail a failure shows.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Protocol, Sequence

from .. import versions
from ..local.ghost_install import cache_dir
from ..procs import log_tail
from ..setup_steps import StepFailed


class Lines(Protocol):
    """Where the build's progress lines go: a text stream, or set-up's steps."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> object: ...


#: Bump when the way a component is built changes (it is part of the cache key).
BUILDER_REVISION = 1
MANIFEST = "manifest.json"
#: Where Go is looked for when it is not on PATH (sudo's secure_path omits it).
GO_FALLBACKS: tuple[Path, ...] = (Path("/usr/local/go/bin/go"),)
COMMAND_TIMEOUT = 3 * 3600  # one cold `go build` of kube-apiserver on 2 cores takes minutes
PROBE_TIMEOUT = 60


class KubeBuildError(StepFailed):
    """A component could not be built (or Go cannot build it); the message says what to do."""


@dataclass(frozen=True)
class Component:
    name: str
    modules: tuple[str, ...]  #: upstream modules, all at ``version``; the first one's go.mod leads
    version: str              #: the modules' version, "vX.Y.Z"
    go: str                   #: the ``go`` line of the modules' go.mod at the pin ("" for C)
    programs: dict[str, str]  #: program -> Go package (pause: its C source in the module)
    expect: str               #: what each program's version output contains
    stamps: tuple[tuple[str, str], ...] = ()  #: -X symbol=value ("{date}": the module's date)
    tags: str = ""
    staging: Optional[str] = None  #: version given to modules upstream replaces with a directory
    probes: dict[str, tuple[str, ...]] = field(default_factory=dict)  #: default ("--version",)
    compiler: str = "go"

    @property
    def pins(self) -> list[str]:
        return [f"{m}@{self.version}" for m in self.modules]


def _kubernetes() -> Component:
    version = f"v{versions.KUBERNETES}"
    major, minor, patch = versions.KUBERNETES.split(".")
    # hack/lib/version.sh stamps both packages. The module proxy records no commit, so
    # gitCommit is left empty (instead of the "$Format:%H$" placeholder); the tree is the
    # tag's archive (the module zip); buildDate is the tag's date, so builds are reproducible.
    values = {"gitVersion": version, "gitMajor": major, "gitMinor": minor, "gitCommit": "",
              "gitTreeState": "archive", "buildDate": "{date}"}
    names = ("kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager",
             "kube-scheduler", "kube-proxy")
    return Component(
        "kubernetes", ("k8s.io/kubernetes",), version, "1.24.0",
        {p: f"k8s.io/kubernetes/cmd/{p}" for p in names}, version,
        stamps=tuple((f"{pkg}.{key}", value) for pkg in ("k8s.io/component-base/version",
                                                         "k8s.io/client-go/pkg/version")
                     for key, value in values.items()),
        tags="selinux,notest,grpcnotrace",  # what a release build passes (hack/lib/golang.sh)
        staging=f"v0.{minor}.{patch}",
        probes={"kubeadm": ("version", "-o", "short"), "kubectl": ("version", "--client")})


#: The reference plugins a Linux release of containernetworking/plugins ships, by directory.
CNI_PLUGINS = {"main": ("bridge", "dummy", "host-device", "ipvlan", "loopback", "macvlan", "ptp",
                        "tap", "vlan"),
               "ipam": ("dhcp", "host-local", "static"),
               "meta": ("bandwidth", "firewall", "portmap", "sbr", "tuning", "vrf")}
_CNI = "github.com/containernetworking/plugins"

COMPONENTS: dict[str, Component] = {c.name: c for c in (
    _kubernetes(),
    Component("etcd", ("go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/etcdctl/v3"),
              f"v{versions.ETCD}", "1.24",
              {"etcd": "go.etcd.io/etcd/server/v3", "etcdctl": "go.etcd.io/etcd/etcdctl/v3"},
              versions.ETCD, probes={"etcdctl": ("version",)}),  # etcdctl 3.6 has no --version
    Component("coredns", ("github.com/coredns/coredns",), f"v{versions.COREDNS}", "1.23.0",
              {"coredns": "github.com/coredns/coredns"}, f"CoreDNS-{versions.COREDNS}",
              probes={"coredns": ("-version",)}),
    Component("pause", ("k8s.io/kubernetes",), f"v{versions.KUBERNETES}", "",
              {"pause": "build/pause/linux/pause.c"}, f"v{versions.PAUSE}",
              probes={"pause": ("-v",)}, compiler="gcc"),
    Component("crictl", ("sigs.k8s.io/cri-tools",), f"v{versions.CRI_TOOLS}", "1.24.1",
              {"crictl": "sigs.k8s.io/cri-tools/cmd/crictl"}, versions.CRI_TOOLS,
              stamps=(("sigs.k8s.io/cri-tools/pkg/version.Version", versions.CRI_TOOLS),)),
    # A plugin run without CNI_COMMAND prints "CNI <name> plugin <version>" and exits 0.
    Component("cni-plugins", (_CNI,), f"v{versions.CNI_PLUGINS}", "1.23.0",
              {p: f"{_CNI}/plugins/{kind}/{p}" for kind, ps in CNI_PLUGINS.items() for p in ps},
              f"v{versions.CNI_PLUGINS}",
              stamps=((f"{_CNI}/pkg/utils/buildversion.BuildVersion", f"v{versions.CNI_PLUGINS}"),),
              probes={p: () for ps in CNI_PLUGINS.values() for p in ps}),
)}


# ------------------------------------------------------------------------ go.mod and flags
@dataclass
class GoMod:
    go: str = ""
    godebug: list[str] = field(default_factory=list)
    local_replaces: list[str] = field(default_factory=list)  #: modules replaced by a directory
    replaces: list[str] = field(default_factory=list)        #: other replace lines, verbatim


def parse_gomod(text: str) -> GoMod:
    mod, block = GoMod(), None
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if block:
            if line == ")":
                block = None
                continue
            verb, rest = block, line
        else:
            verb, _, rest = line.partition(" ")
            rest = rest.strip()
            if rest == "(":
                block = verb
                continue
        if verb == "go":
            mod.go = rest
        elif verb == "godebug":
            mod.godebug.append(rest)
        elif verb == "replace":
            target = rest.split("=>", 1)[1].strip()
            if target.startswith(("./", "../", "/")):
                mod.local_replaces.append(rest.split()[0])
            else:
                mod.replaces.append(rest)
    return mod


def version_tuple(text: str) -> tuple[int, int, int]:
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not m:
        raise ValueError(f"not a Go version: {text!r}")
    return int(m[1]), int(m[2]), int(m[3] or 0)


def render_gomod(comp: Component, upstream: Sequence[GoMod]) -> str:
    """The go.mod of the component's own work module."""
    go = max((u.go for u in upstream if u.go), key=version_tuple, default=comp.go)
    lines = [f"// Generated by cephlab/nodes/kubebuild.py: {', '.join(comp.programs)} "
             f"from {' '.join(comp.pins)}.", f"module cephlab.invalid/kubebuild/{comp.name}", "",
             f"go {go}", ""]
    if upstream and upstream[0].godebug:
        lines += ["godebug (", *(f"\t{d}" for d in upstream[0].godebug), ")", ""]
    lines += ["require (", *(f"\t{m} {comp.version}" for m in comp.modules), ")", ""]
    replaces = [r for u in upstream for r in u.replaces]
    if comp.staging:
        replaces += [f"{m} => {m} {comp.staging}" for m in upstream[0].local_replaces]
    if replaces:
        lines += ["replace (", *(f"\t{r}" for r in dict.fromkeys(replaces)), ")", ""]
    return "\n".join(lines)


def ldflags(comp: Component, date: str) -> str:
    """-ldflags for ``go build``: no symbol table or DWARF (as release builds) and the stamps."""
    return " ".join(["-s", "-w", *(f"-X {sym}={value.replace('{date}', date)}"
                                   for sym, value in comp.stamps)])


def image_mismatches(images_list: str) -> list[str]:
    """What ``kubeadm config images list`` asks for that this builder does not build."""
    want = {"kube-apiserver": f"v{versions.KUBERNETES}", "kube-controller-manager":
            f"v{versions.KUBERNETES}", "kube-scheduler": f"v{versions.KUBERNETES}",
            "kube-proxy": f"v{versions.KUBERNETES}", "coredns": f"v{versions.COREDNS}",
            "pause": versions.PAUSE, "etcd": versions.ETCD_IMAGE_TAG}
    got = {}
    for line in images_list.split():
        name, _, tag = line.rpartition(":")
        got[name.rsplit("/", 1)[-1]] = tag
    return [f"{name}:{got.get(name, '(not listed)')} (built: {tag})"
            for name, tag in want.items() if got.get(name) != tag]


# ------------------------------------------------------------------------ Go itself
@dataclass(frozen=True)
class Go:
    path: str
    version: str    #: "go1.26.8"
    toolchain: str  #: GOTOOLCHAIN for the builds: exactly ``version`` (no switching)


def find_go() -> Optional[str]:
    found = shutil.which("go")
    return found or next((str(p) for p in GO_FALLBACKS if os.access(p, os.X_OK)), None)


def _go_release(directive: str) -> str:
    return "go" + ".".join(map(str, version_tuple(directive)))


def go_toolchain(needs: Sequence[Component]) -> Go:
    """This machine's Go, or an error naming what to install when it is missing or older
    than a component's go.mod asks for. Runs only ``go env``; nothing is written."""
    need = max((c for c in needs if c.go), key=lambda c: version_tuple(c.go), default=None)
    want = f"Go >= {need.go}" if need else "Go"
    path = find_go()
    if path is None:
        places = ", ".join(str(p) for p in GO_FALLBACKS)
        raise KubeBuildError(
            f"kube: Go is not installed (no `go` on PATH{', nor ' + places if places else ''}); "
            f"building {', '.join(c.name for c in needs)} needs {want}: install the Go tarball "
            f"from go.dev/dl into /usr/local/go (Debian 12's golang-go is 1.19, too old)")
    try:
        res = subprocess.run([path, "env", "GOVERSION"], cwd="/",
                             capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KubeBuildError(f"kube: `{path} env GOVERSION` failed: {exc}") from None
    lines = res.stdout.split()
    if res.returncode != 0 or not lines:
        raise KubeBuildError(f"kube: `{path} env GOVERSION` failed (exit {res.returncode}): "
                             f"{(res.stderr or res.stdout).strip()[-500:]}")
    version = lines[0]
    if need and version_tuple(version) < version_tuple(need.go):
        raise KubeBuildError(
            f"kube: {need.name} ({' '.join(need.pins)}) needs Go >= {need.go} (its go.mod), "
            f"and {path} is {version}: install {want} (go.dev/dl into /usr/local/go), or let "
            f"this go fetch that toolchain from the module proxy: "
            f"GOTOOLCHAIN={_go_release(need.go)} python3 -m cephlab setup --kube")
    # The builds run the toolchain reported here (the user's GOTOOLCHAIN may have chosen it;
    # go runs itself when it is that version) and never switch to another mid-build: the
    # cache key records this version.
    toolchain = version if re.fullmatch(r"go\d+\.\d+(\.\d+)?((rc|beta)\d+)?", version) else "local"
    return Go(path, version, toolchain)


def require_gcc() -> None:
    """pause is a static C program: gcc, and libc.a from libc6-dev."""
    gcc = shutil.which("gcc")
    libc = subprocess.run([gcc, "-print-file-name=libc.a"], capture_output=True,
                          text=True).stdout.strip() if gcc else ""
    if not gcc or not os.path.isabs(libc):
        raise KubeBuildError("kube: pause is compiled with `gcc -static`, which needs gcc and "
                             "libc6-dev: apt-get install -y gcc libc6-dev")


# ------------------------------------------------------------------------ the cache
def kube_cache(cache: Optional[Path] = None) -> Path:
    return (cache or cache_dir()) / "kube"


def wanted(go_version: str, table: dict[str, Component] = COMPONENTS) -> dict:
    """What the cache must hold; its digest names the build's directory."""
    return {"builder": BUILDER_REVISION, "go": go_version,
            "components": {n: {"pins": c.pins, "programs": sorted(c.programs)}
                           for n, c in sorted(table.items())}}


def digest(want: dict) -> str:
    return hashlib.sha256(json.dumps(want, sort_keys=True).encode()).hexdigest()[:12]


def read_manifest(root: Path) -> Optional[dict]:
    try:
        return json.loads((root / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def stale_components(manifest: Optional[dict], want: dict, root: Path,
                     names: Sequence[str]) -> dict[str, str]:
    """name -> why it must be built, for each of ``names`` the build in ``root`` lacks."""
    if manifest is None:
        return {n: "not built yet" for n in names}
    for key in ("builder", "go"):
        if manifest.get(key) != want[key]:
            return {n: f"{key} changed: built with {manifest.get(key)!r}, wanted {want[key]!r}"
                    for n in names}
    stale = {}
    for name in names:
        spec, got = want["components"][name], manifest.get("built", {}).get(name)
        if not got:
            stale[name] = "not built yet"
        elif got.get("pins") != spec["pins"]:
            stale[name] = f"pins changed: built {got.get('pins')}, wanted {spec['pins']}"
        else:
            for prog in spec["programs"]:
                path, rec = root / "bin" / prog, got.get("binaries", {}).get(prog)
                if rec is None or not path.is_file() or path.stat().st_size != rec.get("size"):
                    stale[name] = f"{path} is missing or not the one built"
                    break
    return stale


def select(components: Optional[Sequence[str]]) -> list[str]:
    names = list(COMPONENTS) if components is None else list(dict.fromkeys(components))
    unknown = [n for n in names if n not in COMPONENTS]
    if unknown:
        raise ValueError(f"unknown components {unknown}; known: {', '.join(COMPONENTS)}")
    return names


def cached(cache: Optional[Path] = None, components: Optional[Sequence[str]] = None
           ) -> Optional[Path]:
    """The bin directory when every component asked for is built and intact, else None.
    Builds nothing (runs ``go env`` only: the Go version is part of the cache key)."""
    names = select(components)
    try:
        go = go_toolchain([COMPONENTS[n] for n in names])
    except KubeBuildError:
        return None
    want = wanted(go.version)
    root = kube_cache(cache) / digest(want)
    return None if stale_components(read_manifest(root), want, root, names) else root / "bin"


# ------------------------------------------------------------------------ building
def build(out: Lines = sys.stdout, cache: Optional[Path] = None,
          log_dir: Optional[Path] = None, components: Optional[Sequence[str]] = None) -> Path:
    """Build what the cache lacks of ``components`` (default: all) and return the bin dir."""
    names = select(components)
    comps = [COMPONENTS[n] for n in names]
    go = go_toolchain(comps)  # before any work
    kube = kube_cache(cache)
    want = wanted(go.version)
    root = kube / digest(want)
    stale = stale_components(read_manifest(root), want, root, names)
    if not stale:
        _say(out, f"kube: {', '.join(names)} cached in {root / 'bin'} ({go.version})")
        return root / "bin"
    if any(COMPONENTS[n].compiler == "gcc" for n in stale):
        require_gcc()
    kube.mkdir(parents=True, exist_ok=True)
    logs = log_dir or kube / "logs"
    with open(kube / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another set-up may be building the same
        manifest = read_manifest(root)
        if not manifest or any(manifest.get(k) != want[k] for k in ("builder", "go")):
            manifest = {**want, "digest": digest(want), "built": {}}
        stale = stale_components(manifest, want, root, names)
        if stale:
            why = sorted(set(stale.values()))
            cold = "" if (kube / "gomod").is_dir() else "; Go's caches are empty: 8 min on 2 cores"
            _say(out, f"kube: building {', '.join(stale)} with {go.version} into {root} "
                      f"({why[0]}{' …' if len(why) > 1 else ''}{cold})")
        for comp in comps:
            if comp.name not in stale:
                _say(out, f"kube-{comp.name}: cached in {root / 'bin'}")
                continue
            builder = _Builder(comp, go, kube, root, logs / f"{comp.name}.log", out)
            manifest["built"][comp.name] = builder.run()
            _write_manifest(root, manifest)
        for old in superseded(kube, root):
            shutil.rmtree(old, ignore_errors=True)
            _say(out, f"kube: removed the superseded build {old}")
    return root / "bin"


def superseded(kube: Path, current: Path) -> list[Path]:
    return sorted(p for p in kube.glob("*") if p.is_dir() and p != current
                  and re.fullmatch(r"[0-9a-f]{12}", p.name))


def _say(out: Lines, line: str) -> None:
    """One whole line in the style of set-up's steps (callers may read ``out`` by lines)."""
    out.write(f"setup: {line}\n")
    out.flush()


def _write_manifest(root: Path, manifest: dict) -> None:
    tmp = root / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, root / MANIFEST)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Builder:
    """One component: its commands' whole output in its log, one progress line."""

    def __init__(self, comp: Component, go: Go, kube: Path, root: Path, log: Path, out: Lines):
        self.comp, self.go, self.root, self.log, self.out = comp, go, root, log, out
        self.work = kube / "work" / comp.name
        self.staged = root / f".build-{comp.name}"
        self.env = {**os.environ, "GOMODCACHE": str(kube / "gomod"),
                    "GOCACHE": str(kube / "gocache"), "GOPATH": str(kube / "gopath"),
                    "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false -modcacherw",
                    "GOTOOLCHAIN": go.toolchain, "GO111MODULE": "on", "GOWORK": "off"}
        for var in ("GOOS", "GOARCH", "GOEXPERIMENT"):  # this machine's programs, plain
            self.env.pop(var, None)

    def run(self) -> dict:
        comp, start = self.comp, time.monotonic()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.write_text(f"=== {time.strftime('%F %T')} kube-{comp.name}: {' '.join(comp.pins)}"
                            f" with {self.go.version} ({self.go.path})\n")
        try:
            for path in (self.work, self.staged):
                shutil.rmtree(path, ignore_errors=True)
                path.mkdir(parents=True)
            infos = self.download()
            extra = self.build_c(infos[0]) if comp.compiler == "gcc" else self.build_go(infos)
            for prog in comp.programs:
                self.probe(prog)
            binaries = self.install()
        finally:
            shutil.rmtree(self.staged, ignore_errors=True)
        seconds = round(time.monotonic() - start, 1)
        _say(self.out, f"kube-{comp.name}: built {', '.join(comp.programs)} from "
                       f"{' '.join(comp.pins)} ({seconds:.0f}s, log {self.log})")
        return {"pins": comp.pins, "binaries": binaries, "seconds": seconds,
                "built_at": time.strftime("%FT%T%z"), "log": str(self.log), **extra}

    def fail(self, what: str) -> KubeBuildError:
        tail = log_tail(self.log, 30)
        hint = ""
        newer = re.search(r"requires go >= ?(\d+\.\d+(?:\.\d+)?)", tail)
        if newer:
            hint = (f"\na module needs Go >= {newer[1]} and this is {self.go.version}: install it, "
                    f"or set GOTOOLCHAIN={_go_release(newer[1])} so go fetches it from the module "
                    f"proxy")
        return KubeBuildError(f"kube-{self.comp.name}: building {' '.join(self.comp.pins)} "
                              f"failed: {what}; full log {self.log}, last lines:\n{tail}{hint}")

    def cmd(self, argv: list[str], cwd: Path, capture: str = "", env: Optional[dict] = None,
            timeout: float = COMMAND_TIMEOUT) -> str:
        """Run ``argv`` with its output appended to the log; ``capture`` "stdout" or "all"
        also returns that output."""
        with open(self.log, "ab") as fh:
            fh.write(f"\n=== {' '.join(argv)}\n".encode())
            fh.flush()
            out = subprocess.PIPE if capture else fh
            err = subprocess.STDOUT if capture != "stdout" else fh
            text = ""
            rc: int | str | None = None  # the exit code, or why the program did not run to an exit
            try:
                res = subprocess.run(argv, cwd=cwd, env=env or self.env, stdout=out, stderr=err,
                                     timeout=timeout)
                rc, text = res.returncode, (res.stdout or b"").decode(errors="replace")
            except subprocess.TimeoutExpired:
                rc = f"timeout after {timeout:.0f}s"
            except OSError as exc:
                rc = str(exc)
            fh.write(text.encode())
        if rc != 0:
            raise self.fail(f"`{' '.join(argv)}` exited {rc}")
        return text

    def download(self) -> list[dict]:
        """``go mod download`` of the pinned modules (outside any module): their go.mod, dir
        and date."""
        text = self.cmd([self.go.path, "mod", "download", "-json", *self.comp.pins], self.work,
                        capture="stdout").strip()
        infos, dec, pos = [], json.JSONDecoder(), 0
        while pos < len(text):
            obj, pos = dec.raw_decode(text, pos)
            infos.append(obj)
            while pos < len(text) and text[pos].isspace():
                pos += 1
        bad = [f"{i.get('Path')}@{i.get('Version')}: {i['Error']}" for i in infos if i.get("Error")]
        if bad or len(infos) != len(self.comp.modules):
            raise self.fail(f"go mod download: {'; '.join(bad) or 'no answer'}")
        return infos

    def build_go(self, infos: list[dict]) -> dict:
        comp = self.comp
        upstream = [parse_gomod(Path(i["GoMod"]).read_text()) for i in infos]
        for info, mod in zip(infos, upstream, strict=True):
            if mod.go and version_tuple(mod.go) > version_tuple(self.go.version):
                raise KubeBuildError(
                    f"kube-{comp.name}: {info['Path']}@{info['Version']} says `go {mod.go}` and "
                    f"{self.go.path} is {self.go.version}: install Go >= {mod.go}, or set "
                    f"GOTOOLCHAIN={_go_release(mod.go)} (the pin table says {comp.go or '-'}: "
                    f"update it)")
        (self.work / "go.mod").write_text(render_gomod(comp, upstream))
        date = json.loads(Path(infos[0]["Info"]).read_text()).get("Time", "")
        flags = ldflags(comp, date)
        for prog, pkg in comp.programs.items():
            self.cmd([self.go.path, "build", "-mod=mod", "-trimpath",
                      *(["-tags", comp.tags] if comp.tags else []), "-ldflags", flags,
                      "-o", str(self.staged / prog), pkg], self.work)
        if comp.name != "kubernetes":
            return {}
        images = self.cmd([str(self.staged / "kubeadm"), "config", "images", "list",
                           "--kubernetes-version", comp.version], self.work, capture="all",
                          timeout=PROBE_TIMEOUT)
        wrong = image_mismatches(images)
        if wrong:
            raise self.fail(f"kubeadm {comp.version} asks for images this builder does not "
                            f"build: {', '.join(wrong)} (update cephlab/versions.py)")
        return {"images": images.split()}

    def build_c(self, info: dict) -> dict:
        """pause from the k8s.io/kubernetes module's source, as build/pause/Makefile does."""
        src = Path(info["Dir"]) / self.comp.programs["pause"]
        makefile = src.parent.parent / "Makefile"
        tag = re.search(r"^TAG \?= *(\S+)", makefile.read_text() if makefile.is_file() else "",
                        re.M)
        if not src.is_file() or not tag or tag[1] != versions.PAUSE:
            raise self.fail(f"{src} with TAG {versions.PAUSE} in {makefile} expected, found "
                            f"{tag[1] if tag else 'none'} (update PAUSE in "
                            f"cephlab/versions.py)")
        self.cmd(["gcc", "-Os", "-Wall", "-Werror", "-static", "-s",
                  f"-DVERSION=v{versions.PAUSE}-{self.comp.version}",
                  "-o", str(self.staged / "pause"), str(src)], self.work)
        return {}

    def probe(self, prog: str) -> None:
        argv = [str(self.staged / prog), *self.comp.probes.get(prog, ("--version",))]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
        text = self.cmd(argv, self.work, capture="all", env=env, timeout=PROBE_TIMEOUT)
        if self.comp.expect not in text:
            raise self.fail(f"`{' '.join(argv[1:]) or '(no arguments)'}` of the built {prog} "
                            f"does not report {self.comp.expect}")

    def install(self) -> dict:
        bin_dir = self.root / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        binaries = {}
        for prog in self.comp.programs:
            path = self.staged / prog
            binaries[prog] = {"sha256": sha256_file(path), "size": path.stat().st_size}
            os.replace(path, bin_dir / prog)
        return binaries
