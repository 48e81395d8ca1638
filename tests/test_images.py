"""The node images: the docker-archive bytes containerd reads (layout, config fields, diff_ids,
reproducibility, what a layer keeps of a tree), the catalogue against kubeadm's own list, the
caches, and loading into a node through a recorded ``ctr``. Offline; the last tests use a
real kubeadm or a real containerd when this machine has them."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from cephlab.errors import LabError
from cephlab import versions
from cephlab.local import rootfs
from cephlab.nodes import images as im

pytestmark = pytest.mark.standin

#: `kubeadm config images list --kubernetes-version v1.34.9` of the kubeadm built here from
#: k8s.io/kubernetes v1.34.9 (its constants: etcd 3.6.5-0, CoreDNS v1.12.1, pause 3.10.1).
KUBEADM_V1_34_9 = """\
registry.k8s.io/kube-apiserver:v1.34.9
registry.k8s.io/kube-controller-manager:v1.34.9
registry.k8s.io/kube-scheduler:v1.34.9
registry.k8s.io/kube-proxy:v1.34.9
registry.k8s.io/coredns/coredns:v1.12.1
registry.k8s.io/pause:3.10.1
registry.k8s.io/etcd:3.6.5-0
"""


def elf(path: Path, interpreter: bool = False) -> Path:
    """A 64-bit ELF header with one program header: PT_LOAD, or PT_INTERP (dynamic)."""
    head = bytearray(64)
    head[:5] = b"\x7fELF\x02"
    head[32:40] = (64).to_bytes(8, "little")   # e_phoff
    head[54:56] = (56).to_bytes(2, "little")   # e_phentsize
    head[56:58] = (1).to_bytes(2, "little")    # e_phnum
    phdr = bytearray(56)
    phdr[:4] = (3 if interpreter else 1).to_bytes(4, "little")
    path.write_bytes(bytes(head + phdr) + path.name.encode())
    path.chmod(0o755)
    return path


def spec(tmp_path: Path, **over) -> im.ImageSpec:
    program = tmp_path / "hello"
    if not program.exists():
        program.write_bytes(b"#!/bin/sh\necho hello\n")
        program.chmod(0o755)
    fields = dict(name="registry.k8s.io/cephlab-hello", tag="1",
                  layers=(im.static_base(), im.Layer(entries=(im.copy("usr/local/bin/hello", program),),
                                                     comment="hello")),
                  entrypoint=("/usr/local/bin/hello",), cmd=("--loud",),
                  labels=(("org.example", "x"),))
    fields.update(over)
    return im.ImageSpec(**fields)


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isfile() else b"") for m in tar}


def layer_members(blob: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        return tar.getmembers()


# ------------------------------------------------------------------------ the archive
def test_archive_is_the_docker_layout_containerd_reads(tmp_path):
    written = im.write_archive(spec(tmp_path), tmp_path / "out.tar")
    files = members(written.path)
    manifest = json.loads(files["manifest.json"])
    assert isinstance(manifest, list) and len(manifest) == 1
    assert set(manifest[0]) == {"Config", "RepoTags", "Layers"}
    assert manifest[0]["RepoTags"] == ["registry.k8s.io/cephlab-hello:1"]
    assert len(manifest[0]["Layers"]) == 2
    # Every blob is named by the sha256 of its bytes; nothing else is in the archive.
    for name in [manifest[0]["Config"], *manifest[0]["Layers"]]:
        assert name == "blobs/sha256/" + hashlib.sha256(files[name]).hexdigest()
    assert list(files) == ["blobs", "blobs/sha256",
                           *sorted([manifest[0]["Config"], *manifest[0]["Layers"]]),
                           "manifest.json"]
    config = json.loads(files[manifest[0]["Config"]])
    assert written.config_digest == "sha256:" + hashlib.sha256(files[manifest[0]["Config"]]).hexdigest()
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    assert config["config"] == {"Entrypoint": ["/usr/local/bin/hello"], "Cmd": ["--loud"],
                                "Env": [im.PATH_ENV], "WorkingDir": "/", "User": "",
                                "Labels": {"org.example": "x"}}
    # diff_ids: the sha256 of each uncompressed layer tar, in the manifest's order.
    assert config["rootfs"] == {"type": "layers", "diff_ids": [
        "sha256:" + hashlib.sha256(files[layer]).hexdigest() for layer in manifest[0]["Layers"]]}
    assert list(written.diff_ids) == config["rootfs"]["diff_ids"]
    assert [h.get("comment") for h in config["history"]] == \
        ["passwd, group, nsswitch.conf, /tmp", "hello"]
    assert all(h["created"] == im.CREATED for h in config["history"])
    # The outer archive carries no times or owners either.
    with tarfile.open(written.path) as tar:
        assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in tar} == {(0, 0, 0, "", "")}
        assert all(m.isdir() or m.isfile() for m in tar)


def test_the_same_inputs_give_the_same_bytes(tmp_path):
    one = im.write_archive(spec(tmp_path), tmp_path / "a" / "one.tar")
    time.sleep(0.01)
    os.utime(tmp_path / "hello", (1e9, 1e9))  # mtimes of sources do not matter
    two = im.write_archive(spec(tmp_path), tmp_path / "b" / "two.tar")
    assert one.path.read_bytes() == two.path.read_bytes()
    changed = im.write_archive(spec(tmp_path, cmd=("--quiet",)), tmp_path / "c.tar")
    assert changed.path.read_bytes() != one.path.read_bytes()
    assert changed.diff_ids == one.diff_ids  # same layers, other config


def test_a_tree_made_in_another_order_gives_the_same_layer(tmp_path):
    blobs = []
    for n, order in enumerate(("abc", "cba")):
        root = tmp_path / f"root{n}"
        root.mkdir()
        for ch in order:
            (root / ch).mkdir()
            (root / ch / "f").write_text(ch)
            os.utime(root / ch / "f", (n * 1e6, n * 1e6))
        out = io.BytesIO()
        im.write_layer(im.Layer(root=root), out)
        blobs.append(out.getvalue())
    assert blobs[0] == blobs[1]
    assert [m.name for m in layer_members(blobs[0])] == ["a", "a/f", "b", "b/f", "c", "c/f"]


def test_a_layer_keeps_modes_symlinks_and_hardlinks_and_skips_special_files(tmp_path):
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/tool").write_text("x")
    (root / "usr/bin/tool").chmod(0o4755)
    os.link(root / "usr/bin/tool", root / "usr/bin/tool-again")
    (root / "usr/bin/alias").symlink_to("tool")
    (root / "bin").symlink_to("usr/bin")
    (root / "secret").mkdir(mode=0o700)
    (root / "secret").chmod(0o700)
    os.mkfifo(root / "fifo")
    if os.geteuid() == 0:
        os.mknod(root / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    (root / "skipme").mkdir()
    (root / "skipme/inside").write_text("no")
    out = io.BytesIO()
    im.write_layer(im.Layer(root=root, exclude=frozenset({"skipme"})), out)
    got = {m.name: m for m in layer_members(out.getvalue())}
    assert sorted(got) == ["bin", "secret", "usr", "usr/bin", "usr/bin/alias", "usr/bin/tool",
                           "usr/bin/tool-again"]
    assert got["usr/bin/tool"].isfile() and got["usr/bin/tool"].mode == 0o4755
    assert got["usr/bin/tool-again"].islnk() and got["usr/bin/tool-again"].linkname == "usr/bin/tool"
    assert got["usr/bin/alias"].issym() and got["usr/bin/alias"].linkname == "tool"
    assert got["bin"].issym() and got["bin"].linkname == "usr/bin"
    assert got["secret"].isdir() and got["secret"].mode == 0o700
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in got.values()} == {(0, 0, 0, "", "")}


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_a_debian_root_keeps_its_numeric_owners(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "mail").mkdir()
    os.chown(root / "mail", 0, 8)
    out = io.BytesIO()
    im.write_layer(im.Layer(root=root, owners=True), out)
    (mail,) = layer_members(out.getvalue())
    assert (mail.uid, mail.gid, mail.gname) == (0, 8, "")


def test_entries_replace_tree_paths_and_get_their_parents(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("from the tree\n")
    out = io.BytesIO()
    im.write_layer(im.Layer(root=root, entries=(
        im.text("etc/passwd", "root:x:0:0::/:/bin/false\n", 0o600),
        im.text("usr/local/bin/x", "#!/bin/sh\n", 0o755),
        im.symlink("usr/local/bin/y", "x"))), out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        got = {m.name: m for m in tar}
        assert tar.extractfile("etc/passwd").read() == b"root:x:0:0::/:/bin/false\n"
    assert got["etc/passwd"].mode == 0o600
    assert [(n, got[n].isdir(), got[n].mode) for n in ("usr", "usr/local", "usr/local/bin")] == \
        [("usr", True, 0o755), ("usr/local", True, 0o755), ("usr/local/bin", True, 0o755)]
    assert got["usr/local/bin/y"].issym()


def test_a_layer_shared_by_two_images_is_the_same_blob(tmp_path):
    a = im.write_archive(spec(tmp_path), tmp_path / "a.tar")
    b = im.write_archive(spec(tmp_path, name="registry.k8s.io/other", tag="2",
                              layers=(im.static_base(),)), tmp_path / "b.tar")
    assert a.diff_ids[0] == b.diff_ids[0]
    c = im.write_archive(spec(tmp_path, layers=(im.static_base(), im.static_base())),
                         tmp_path / "c.tar")
    assert len(c.diff_ids) == 2 and len([n for n in members(c.path) if n.count("/") == 2]) == 2


# ------------------------------------------------------------------------ the catalogue
def test_kubeadm_images_are_what_kubeadm_v1_34_9_lists():
    assert versions.KUBERNETES == "1.34.9", "a new pin: record its kubeadm's list here"
    assert im.kubeadm_images() == KUBEADM_V1_34_9.split()


def fake_bin(tmp_path: Path, dynamic: tuple[str, ...] = ()) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy",
                 "etcd", "etcdctl", "coredns", "pause"):
        elf(bin_dir / name, interpreter=name in dynamic)
    return bin_dir


def fake_base(tmp_path: Path) -> im.BaseRoot:
    root = tmp_path / "base"
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/iptables").write_text("")
    manifest = {**im.proxy_wanted(), "complete": True, "installed": {}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return im.BaseRoot(root, manifest, built=False, seconds=0.0)


def test_the_catalogue_makes_every_image_kubeadm_lists(tmp_path):
    specs = im.catalogue(fake_bin(tmp_path, dynamic=("kube-proxy",)), fake_base(tmp_path))
    assert [s.ref for s in specs] == KUBEADM_V1_34_9.split()
    by = {s.short: s for s in specs}
    # Upstream's entrypoints; kubeadm's static pods name their program (found on PATH).
    assert by["coredns"].entrypoint == ("/coredns",)
    assert by["pause"].entrypoint == ("/pause",) and by["pause"].user == "65535:65535"
    assert by["kube-proxy"].entrypoint == ("/usr/local/bin/kube-proxy",)
    assert by["etcd"].cmd == ("/usr/local/bin/etcd",)
    assert all(s.env == (im.PATH_ENV,) for s in specs)
    assert [e.path for e in by["etcd"].layers[1].entries] == ["usr/local/bin/etcd",
                                                              "usr/local/bin/etcdctl"]
    # One small base under every control-plane image; kube-proxy's is the Debian root,
    # without the build's own files.
    shared = [s.short for s in specs if s.layers[0] == im.static_base()]
    assert shared == ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "coredns",
                      "pause", "etcd"]
    proxy = by["kube-proxy"].layers[0]
    assert proxy.root == tmp_path / "base" and proxy.owners and "manifest.json" in proxy.exclude
    written = im.write_archive(by["kube-proxy"], tmp_path / "proxy.tar")
    layer = members(written.path)[im._blob(written.diff_ids[0])]
    assert [m.name for m in layer_members(layer)] == ["usr", "usr/sbin", "usr/sbin/iptables"]
    assert [s.short for s in im.catalogue(fake_bin(tmp_path / "2"))] == [
        "kube-apiserver", "kube-controller-manager", "kube-scheduler", "coredns", "pause", "etcd"]


def test_a_dynamically_linked_control_plane_program_is_refused(tmp_path):
    with pytest.raises(LabError, match="kube-scheduler is dynamically linked"):
        im.catalogue(fake_bin(tmp_path, dynamic=("kube-scheduler",)))
    assert im.is_static(elf(tmp_path / "s")) and not im.is_static(elf(tmp_path / "d", True))
    with pytest.raises(LabError, match="missing"):
        im.catalogue(tmp_path / "nowhere")


@pytest.mark.skipif(not Path("/bin/ls").is_file(), reason="no /bin/ls")
def test_is_static_reads_real_programs(tmp_path):
    assert not im.is_static(Path("/bin/ls"))
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    (tmp_path / "m.c").write_text("int main(void){return 0;}\n")
    done = subprocess.run(["gcc", "-static", "-o", str(tmp_path / "m"), str(tmp_path / "m.c")],
                          capture_output=True)
    if done.returncode:
        pytest.skip(f"no static libc: {done.stderr[-200:]!r}")
    assert im.is_static(tmp_path / "m")


# ------------------------------------------------------------------------ the caches
def test_an_archive_is_written_once_and_rewritten_when_an_input_changes(tmp_path):
    said: list[str] = []
    first = im.ensure(spec(tmp_path), cache=tmp_path / "cache", say=said.append)
    assert first.built and first.path.parent == tmp_path / "cache" / "images"
    assert first.path.name == f"cephlab-hello-1-{first.key}.tar" and len(first.key) == 16
    again = im.ensure(spec(tmp_path), cache=tmp_path / "cache", say=said.append)
    assert not again.built and again.path == first.path and len(said) == 1
    (tmp_path / "hello").write_bytes(b"#!/bin/sh\necho bonjour\n")  # a rebuilt program
    third = im.ensure(spec(tmp_path), cache=tmp_path / "cache", say=said.append)
    assert third.built and third.key != first.key
    assert not first.path.exists(), "the superseded archive is removed"
    assert not list((tmp_path / "cache/images").glob(".*.tar*")), "no temporary files left"


def test_the_key_covers_config_layers_and_the_root_key(tmp_path):
    base = im.key(spec(tmp_path))
    assert im.key(spec(tmp_path)) == base
    assert im.key(spec(tmp_path, user="1:1")) != base
    assert im.key(spec(tmp_path, tag="2")) != base
    rooted = lambda k: spec(tmp_path, layers=(im.Layer(root=tmp_path, key=k),))  # noqa: E731
    assert im.key(rooted("a")) == im.key(rooted("a")) != im.key(rooted("b"))
    os.chmod(tmp_path / "hello", 0o700)
    assert im.key(spec(tmp_path)) != base


def test_a_tree_key_sees_a_rewritten_file(tmp_path):
    (tmp_path / "f").write_text("a")
    before = im.tree_key(tmp_path)
    assert im.tree_key(tmp_path) == before
    os.utime(tmp_path / "f", ns=(1, 1))
    assert im.tree_key(tmp_path) != before


@pytest.mark.parametrize("content, reuse, why", [
    (None, False, "no cached archive"),
    (b"not a tar", False, "unreadable"),
    ("empty tar", False, "no manifest.json"),
])
def test_a_broken_cached_archive_is_not_reused(tmp_path, content, reuse, why):
    path = tmp_path / "x.tar"
    if content == "empty tar":
        tarfile.open(path, "w").close()
    elif content is not None:
        path.write_bytes(content)
    assert im.cache_decision(path)[0] is reuse and why in im.cache_decision(path)[1]


def base_manifest(**over):
    want = im.proxy_wanted()
    doc = {**want, "complete": True, "installed": {p: "1.0" for p in want["packages"]}}
    doc.update(over)
    return doc


def test_a_complete_base_root_is_reused():
    reuse, why = im.base_decision(base_manifest(), im.proxy_wanted())
    assert reuse and "bookworm" in why and "iptables 1.0" in why


@pytest.mark.parametrize("doc, why", [
    (None, "no cached root"),
    (base_manifest(complete=False), "never finished"),
    (base_manifest(suite="trixie"), "suite changed"),
    (base_manifest(packages=["iptables"]), "packages changed"),
    (base_manifest(builder=im.BASE_REVISION - 1), "builder changed"),
    (base_manifest(pruned=[]), "pruned changed"),
    (base_manifest(installed={"iptables": "1.8.9-2"}), "not installed in the cached root: conntrack"),
])
def test_a_base_root_is_rebuilt_when_what_it_holds_differs(doc, why):
    reuse, reason = im.base_decision(doc, im.proxy_wanted())
    assert not reuse and why in reason


def test_the_base_root_is_named_by_what_it_holds(tmp_path):
    path = im.proxy_root_path(tmp_path)
    assert path.parent == tmp_path and path.name.startswith("kube-proxy-bookworm-")
    assert im.proxy_root_path(tmp_path) == path


# ------------------------------------------------------------------------ into a node
#: `ctr -n k8s.io images ls` of Debian's containerd 1.6.20 after two imports and label (SIZE is
#: two words, LABELS last; the CRI plugin adds its label and a name per image id).
CTR_LS = """\
REF                                                                     TYPE                                                 DIGEST                                                                  SIZE      PLATFORMS   LABELS
registry.k8s.io/cephlab-hello:1                                         application/vnd.docker.distribution.manifest.v2+json sha256:7fe3ebaf9ff3543656a9e232ebacff2ed0ba13f5114e9814833ba3e2366d6042 761.2 KiB linux/amd64 cephlab.archive=KEY1,io.cri-containerd.image=managed
registry.k8s.io/pause:3.10.1                                            application/vnd.docker.distribution.manifest.v2+json sha256:b76e073a996ff27379946ce8c384aff57a275011d79357cceb23677d2e34834a 761.2 KiB linux/amd64 io.cri-containerd.image=managed
sha256:9451754838365b472669bcb1531a3758ad7040ee1dfbfa5c1e929c894411a461 application/vnd.docker.distribution.manifest.v2+json sha256:b76e073a996ff27379946ce8c384aff57a275011d79357cceb23677d2e34834a 761.2 KiB linux/amd64 -
"""


class FakeCtr:
    def __init__(self, listing: str = CTR_LS, fail: str = ""):
        self.calls: list[list[str]] = []
        self.listing, self.fail = listing, fail

    def __call__(self, argv: list[str]) -> subprocess.CompletedProcess:
        self.calls.append(argv)
        if self.fail and self.fail in argv:
            return subprocess.CompletedProcess(argv, 1, "", "ctr: no such file")
        if argv[-2:] == ["ls", "-q"]:
            out = "".join(line.split()[0] + "\n" for line in self.listing.splitlines()[1:])
        elif argv[-1] == "ls":
            out = self.listing
        else:
            out = ""
        return subprocess.CompletedProcess(argv, 0, out, "")


def archive(ref: str, key: str) -> im.Archive:
    return im.Archive(Path(f"/var/cache/cephlab/images/{ref.rsplit('/', 1)[-1]}-{key}.tar"), ref,
                      key, built=False, seconds=0.0)


def test_node_images_reads_names_and_labels():
    assert im.node_images(FakeCtr()) == {
        "registry.k8s.io/cephlab-hello:1": {im.LABEL: "KEY1", "io.cri-containerd.image": "managed"},
        "registry.k8s.io/pause:3.10.1": {"io.cri-containerd.image": "managed"},
        "sha256:9451754838365b472669bcb1531a3758ad7040ee1dfbfa5c1e929c894411a461": {}}


def test_load_imports_what_the_node_lacks_and_labels_it():
    ctr = FakeCtr()
    imported = im.load([archive("registry.k8s.io/cephlab-hello:1", "KEY1"),   # held already
                        archive("registry.k8s.io/pause:3.10.1", "KEY2"),      # same name, no label
                        archive("registry.k8s.io/etcd:3.6.5-0", "KEY3")],     # absent
                       ctr, where=lambda p: f"/mnt/images/{p.name}",
                       ctr=im.Ctr(("ctr", "--address", "/run/c.sock")), say=lambda _: None)
    assert imported == ["registry.k8s.io/pause:3.10.1", "registry.k8s.io/etcd:3.6.5-0"]
    assert ctr.calls == [
        ["ctr", "--address", "/run/c.sock", "-n", "k8s.io", "images", "ls"],
        ["ctr", "--address", "/run/c.sock", "-n", "k8s.io", "images", "import",
         "/mnt/images/pause:3.10.1-KEY2.tar"],
        ["ctr", "--address", "/run/c.sock", "-n", "k8s.io", "images", "label",
         "registry.k8s.io/pause:3.10.1", "cephlab.archive=KEY2"],
        ["ctr", "--address", "/run/c.sock", "-n", "k8s.io", "images", "import",
         "/mnt/images/etcd:3.6.5-0-KEY3.tar"],
        ["ctr", "--address", "/run/c.sock", "-n", "k8s.io", "images", "label",
         "registry.k8s.io/etcd:3.6.5-0", "cephlab.archive=KEY3"]]


def test_load_passes_the_snapshotter_and_fails_with_ctr_s_words():
    ctr = FakeCtr()
    im.load([archive("registry.k8s.io/etcd:3.6.5-0", "K")], ctr, snapshotter="native",
            say=lambda _: None)
    assert ctr.calls[1][4:7] == ["import", "--snapshotter", "native"]
    with pytest.raises(LabError, match="import.*exit 1.*no such file"):
        im.load([archive("registry.k8s.io/etcd:3.6.5-0", "K")], FakeCtr(fail="import"),
                say=lambda _: None)


def test_missing_names_what_kubeadm_asks_for_and_the_node_lacks():
    assert im.missing(FakeCtr()) == [r for r in KUBEADM_V1_34_9.split() if "pause" not in r]
    assert im.missing(FakeCtr(), wanted=["registry.k8s.io/cephlab-hello:1"]) == []


# ------------------------------------------------------------------------ real programs
def built_kubeadm() -> Path | None:
    from cephlab.nodes import kubebuild

    bin_dir = kubebuild.cached(components=["kubernetes"])
    return bin_dir / "kubeadm" if bin_dir else None


def test_the_real_kubeadm_lists_the_catalogue():
    kubeadm = built_kubeadm()
    if kubeadm is None:
        pytest.skip("no kubeadm built here (python -m cephlab setup --kube)")
    out = subprocess.run([str(kubeadm), "config", "images", "list", "--kubernetes-version",
                          f"v{versions.KUBERNETES}"], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    assert out.split() == im.kubeadm_images() == KUBEADM_V1_34_9.split()


def containerd_missing() -> str | None:
    if os.geteuid() != 0:
        return "a containerd of the test's own needs root"
    for tool in ("containerd", "ctr", "runc", "gcc"):
        if shutil.which(tool) is None:
            return f"no {tool} on this machine (apt-get install containerd gcc)"
    return None


@pytest.fixture
def containerd():
    """A containerd of the test's own (root, state and socket in a temporary directory),
    stopped and removed afterwards; /run/containerd, where shims and ctr keep their sockets
    and fifos, is removed too when the test made it and left it empty."""
    why = containerd_missing()
    if why:
        pytest.skip(why)
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="ctrd-", dir="/tmp"))  # a socket path is short
    run_dir, run_existed = Path("/run/containerd"), Path("/run/containerd").exists()
    (base / "config.toml").write_text(
        f'version = 2\nroot = "{base}/root"\nstate = "{base}/state"\n'
        f'[grpc]\n  address = "{base}/c.sock"\n'
        f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{base}/opt"\n'
        # The CRI plugin as kubelet needs it here: the sandbox image is ours, and no
        # oom_score_adj below containerd's own (this machine's root lacks CAP_SYS_RESOURCE,
        # so runc cannot set the sandbox's -998).
        f'[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "{im.PAUSE_IMAGE}"\n'
        f'  restrict_oom_score_adj = true\n')
    log = open(base / "containerd.log", "wb")
    proc = subprocess.Popen(["containerd", "--config", str(base / "config.toml")], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    ctr = im.Ctr(("ctr", "--address", str(base / "c.sock")))
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([*ctr.argv, "version"], capture_output=True).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"containerd did not answer: {(base / 'containerd.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield ctr
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            if line.split()[4].startswith(str(base) + "/"):
                subprocess.run(["umount", "-l", line.split()[4]], check=False)
        shutil.rmtree(base, ignore_errors=True)
        if not run_existed and run_dir.is_dir():
            for sub in sorted(run_dir.rglob("*"), key=lambda p: -len(p.parts)) + [run_dir]:
                if sub.is_dir() and not any(sub.iterdir()):
                    sub.rmdir()


def test_a_real_containerd_imports_shares_and_runs_the_images(containerd, tmp_path):
    src = tmp_path / "hello.c"
    src.write_text('#include <stdio.h>\n#include <unistd.h>\n'
                   'int main(int c, char **v) { printf("hello uid=%d %s\\n", (int)getuid(), v[0]);'
                   ' return 0; }\n')
    subprocess.run(["gcc", "-static", "-o", str(tmp_path / "hello"), str(src)], check=True)
    hello = im.ImageSpec("registry.k8s.io/cephlab-hello", "1", (im.static_base(), im.Layer(
        entries=(im.copy("usr/local/bin/hello", tmp_path / "hello"),))),
        entrypoint=("/usr/local/bin/hello",))
    pause = im.ImageSpec("registry.k8s.io/pause", versions.PAUSE, (im.static_base(), im.Layer(
        entries=(im.copy("pause", tmp_path / "hello"),))), entrypoint=("/pause",),
        user="65535:65535")
    archives = [im.ensure(s, cache=tmp_path / "cache", say=lambda _: None) for s in (hello, pause)]

    def run(argv: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    refs = [hello.ref, pause.ref]
    assert im.load(archives, run, ctr=containerd, say=lambda _: None) == refs
    assert im.load(archives, run, ctr=containerd, say=lambda _: None) == []
    assert im.missing(run, wanted=refs, ctr=containerd) == []
    # The shared base is one snapshot (its chain id is its diff id), parent of both tops.
    base_id = im.write_archive(hello, tmp_path / "h.tar").diff_ids[0]
    snaps = [line.split() for line in run(containerd("snapshots", "ls")).stdout.splitlines()[1:]]
    assert [s[0] for s in snaps].count(base_id) == 1
    assert sum(1 for s in snaps if len(s) == 3 and s[1] == base_id) == 2
    out = run(containerd("run", "--rm", hello.ref, "cephlab-hello"))
    assert out.stdout == "hello uid=0 /usr/local/bin/hello\n", out.stderr
    out = run(containerd("run", "--rm", pause.ref, "cephlab-pause"))
    assert out.stdout == "hello uid=65535 /pause\n", out.stderr


def test_a_real_containerd_runs_kube_proxys_tools(containerd, tmp_path):
    path = im.proxy_root_path()
    if not im.base_decision(rootfs.read_manifest(path), im.proxy_wanted())[0]:
        pytest.skip(f"no cached kube-proxy root in {path} (built by the nodes target's set-up)")
    base = im.proxy_base(say=lambda _: None)
    shutil.copy("/bin/true", tmp_path / "kube-proxy")
    spec = im.ImageSpec("registry.k8s.io/kube-proxy", f"v{versions.KUBERNETES}", (
        base.layer(), im.Layer(entries=(im.copy("usr/local/bin/kube-proxy", tmp_path / "kube-proxy"),))),
        entrypoint=("/usr/local/bin/kube-proxy",))
    archive = im.ensure(spec, cache=tmp_path / "cache", say=lambda _: None)

    def run(argv: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(argv, capture_output=True, text=True, timeout=300)

    assert im.load([archive], run, ctr=containerd, say=lambda _: None) == [spec.ref]
    for argv, says in ((["iptables", "--version"], "iptables v"),
                       (["ip6tables-restore", "--version"], "ip6tables-restore v"),
                       (["conntrack", "--version"], "conntrack v"),
                       (["/usr/local/bin/kube-proxy"], "")):
        out = run(containerd("run", "--rm", spec.ref, "cephlab-proxy", *argv))
        assert out.returncode == 0 and says in out.stdout, (argv, out.stdout, out.stderr)


def test_a_real_cri_runs_a_pod_from_the_images(containerd, tmp_path):
    from cephlab.nodes import kubebuild

    bin_dir = kubebuild.cached(components=["kubernetes", "etcd", "coredns", "pause", "crictl"])
    if bin_dir is None:
        pytest.skip("the kube programs are not built here (python -m cephlab setup --kube)")
    specs = {s.short: s for s in im.catalogue(bin_dir)}
    archives = [im.ensure(specs[n], cache=tmp_path, say=lambda _: None) for n in ("pause", "etcd")]

    def run(argv: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    im.load(archives, run, ctr=containerd, say=lambda _: None)
    sock = f"unix://{containerd.argv[-1]}"
    crictl = [str(bin_dir / "crictl"), "--runtime-endpoint", sock, "--image-endpoint", sock]
    # What kubelet does for a host-network pod: a sandbox (the pause image, never pulled),
    # then a container whose command is found on the image's PATH, as kubeadm's etcd is.
    pod = tmp_path / "pod.json"
    pod.write_text(json.dumps({"metadata": {"name": "images", "namespace": "default",
                                            "uid": "cephlab-images", "attempt": 0},
                               "log_directory": str(tmp_path / "logs"),
                               "linux": {"security_context": {"namespace_options": {"network": 2}}}}))
    box = tmp_path / "etcd.json"
    box.write_text(json.dumps({"metadata": {"name": "etcd"}, "image": {"image": specs["etcd"].ref},
                               "command": ["etcd", "--version"], "log_path": "etcd.log",
                               "linux": {}}))
    sandbox = run([*crictl, "runp", str(pod)])
    assert sandbox.returncode == 0, sandbox.stderr
    try:
        made = run([*crictl, "create", sandbox.stdout.strip(), str(box), str(pod)])
        assert made.returncode == 0, made.stderr
        assert run([*crictl, "start", made.stdout.strip()]).returncode == 0
        deadline = time.monotonic() + 30
        log = tmp_path / "logs" / "etcd.log"
        while not (log.is_file() and f"etcd Version: {versions.ETCD}" in log.read_text()):
            assert time.monotonic() < deadline, log.read_text() if log.is_file() else "no log"
            time.sleep(0.2)
        status = json.loads(run([*crictl, "inspectp", sandbox.stdout.strip()]).stdout)
        assert status["status"]["state"] == "SANDBOX_READY"
        assert status["info"]["image"] == im.PAUSE_IMAGE
    finally:
        run([*crictl, "stopp", sandbox.stdout.strip()])
        run([*crictl, "rmp", sandbox.stdout.strip()])
