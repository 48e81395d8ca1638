"""The Kubernetes component builder (cephlab/nodes/kubebuild.py), offline: no network, no Go
build. A fake ``go`` on PATH stands in for the toolchain where one must run."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cephlab import versions
from cephlab.nodes import kubebuild as kb

pytestmark = pytest.mark.standin

MAJOR, MINOR, PATCH = versions.KUBERNETES.split(".")
STAGING = ("api", "apiextensions-apiserver", "apimachinery", "apiserver", "cli-runtime",
           "client-go", "cloud-provider", "cluster-bootstrap", "code-generator",
           "component-base", "component-helpers", "controller-manager", "cri-api", "cri-client",
           "csi-translation-lib", "dynamic-resource-allocation", "endpointslice", "externaljwt",
           "kms", "kube-aggregator", "kube-controller-manager", "kube-proxy", "kube-scheduler",
           "kubectl", "kubelet", "metrics", "mount-utils", "pod-security-admission",
           "sample-apiserver", "sample-cli-plugin", "sample-controller")
# The shape of k8s.io/kubernetes's go.mod at the pin: its go and godebug lines, requirements
# of the staging modules at v0.0.0, and one replace per staging module to its directory.
KUBE_GOMOD = "\n".join([
    "// This is a generated file. Do not edit directly.", "", "module k8s.io/kubernetes", "",
    "go 1.24.0", "", "godebug default=go1.24", "", "require (",
    "\tgithub.com/blang/semver/v4 v4.0.0",
    *(f"\tk8s.io/{m} v0.0.0" for m in STAGING if not m.startswith("sample-c")),
    "\tk8s.io/klog/v2 v2.130.1", ")", "", "replace (",
    *(f"\tk8s.io/{m} => ./staging/src/k8s.io/{m}" for m in STAGING), ")", ""])
ETCD_GOMOD = """module go.etcd.io/etcd/server/v3

go 1.24

toolchain go1.24.7

require (
	go.etcd.io/etcd/api/v3 v3.6.5
	go.etcd.io/etcd/client/v3 v3.6.5 // indirect
)

replace (
	go.etcd.io/etcd/api/v3 => ../api
	go.etcd.io/etcd/client/v3 => ../client/v3
)

// Bad imports are sometimes causing attempts to pull that code.
replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY
"""
GO_OK = "go1.26.8"


# ------------------------------------------------------------------------ go.mod and flags
def test_the_kubernetes_work_module_replaces_every_staging_module_at_the_matching_v0():
    comp = kb.COMPONENTS["kubernetes"]
    staging = f"v0.{MINOR}.{PATCH}"
    assert comp.staging == staging
    text = kb.render_gomod(comp, [kb.parse_gomod(KUBE_GOMOD)])
    replaced = re.findall(r"^\t(k8s\.io/[\w-]+) => (k8s\.io/[\w-]+) (\S+)$", text, re.M)
    assert sorted(r[0] for r in replaced) == sorted(f"k8s.io/{m}" for m in STAGING)
    assert all(old == new and ver == staging for old, new, ver in replaced)
    assert f"require (\n\tk8s.io/kubernetes v{versions.KUBERNETES}\n)" in text
    assert "\ngo 1.24.0\n" in text
    assert "godebug (\n\tdefault=go1.24\n)" in text  # the binaries' GODEBUG defaults, as upstream's
    assert "./staging" not in text


def test_a_module_whose_local_replaces_are_real_requirements_gets_no_replace():
    comp = kb.COMPONENTS["etcd"]
    text = kb.render_gomod(comp, [kb.parse_gomod(ETCD_GOMOD)] * 2)
    assert "replace" not in text and "FORBIDDEN" not in text and "toolchain" not in text
    assert re.findall(r"^\t(\S+) (\S+)$", text, re.M) == [
        ("go.etcd.io/etcd/server/v3", f"v{versions.ETCD}"),
        ("go.etcd.io/etcd/etcdctl/v3", f"v{versions.ETCD}")]
    assert "\ngo 1.24\n" in text


def test_upstream_replaces_by_version_are_kept():
    mod = kb.parse_gomod("module x\n\ngo 1.23.0\n\n"
                         "replace github.com/a/b v1.0.0 => github.com/c/b v1.0.1\n")
    assert mod.replaces == ["github.com/a/b v1.0.0 => github.com/c/b v1.0.1"]
    text = kb.render_gomod(kb.COMPONENTS["coredns"], [mod])
    assert "replace (\n\tgithub.com/a/b v1.0.0 => github.com/c/b v1.0.1\n)" in text


@pytest.mark.skipif(not kb.find_go(), reason="go is not installed")
def test_go_itself_reads_the_rendered_go_mod(tmp_path):
    (tmp_path / "go.mod").write_text(kb.render_gomod(kb.COMPONENTS["kubernetes"],
                                                     [kb.parse_gomod(KUBE_GOMOD)]))
    res = subprocess.run([kb.find_go(), "mod", "edit", "-json"], cwd=tmp_path, capture_output=True,
                         text=True, env={**os.environ, "GOFLAGS": "", "GOTOOLCHAIN": "local"})
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["Require"] == [{"Path": "k8s.io/kubernetes", "Version": f"v{versions.KUBERNETES}"}]
    assert len(doc["Replace"]) == len(STAGING)
    assert doc["GoDebug"] == [{"Key": "default", "Value": "go1.24"}]


def test_the_kubernetes_ldflags_stamp_the_version_into_both_version_packages():
    flags = kb.ldflags(kb.COMPONENTS["kubernetes"], "2026-06-11T17:37:08Z").split()
    assert flags[:2] == ["-s", "-w"]
    stamps = dict(f.split("=", 1) for f in flags[2:] if f != "-X")
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert stamps[f"{pkg}.gitVersion"] == f"v{versions.KUBERNETES}"
        assert stamps[f"{pkg}.gitMajor"] == MAJOR
        assert stamps[f"{pkg}.gitMinor"] == MINOR
        assert stamps[f"{pkg}.buildDate"] == "2026-06-11T17:37:08Z"
        assert stamps[f"{pkg}.gitTreeState"] == "archive"
        assert stamps[f"{pkg}.gitCommit"] == ""
    assert len(stamps) == 12


def test_the_other_components_carry_their_versions():
    assert kb.ldflags(kb.COMPONENTS["crictl"], "").endswith(
        f"-X sigs.k8s.io/cri-tools/pkg/version.Version={versions.CRI_TOOLS}")
    assert f"BuildVersion=v{versions.CNI_PLUGINS}" in kb.ldflags(kb.COMPONENTS["cni-plugins"], "")
    cni = set(kb.COMPONENTS["cni-plugins"].programs)
    assert {"loopback", "bridge", "host-local", "portmap"} <= cni
    assert kb.COMPONENTS["etcd"].pins == [f"go.etcd.io/etcd/server/v3@v{versions.ETCD}",
                                          f"go.etcd.io/etcd/etcdctl/v3@v{versions.ETCD}"]


def test_kubeadms_image_list_is_checked_against_the_pins():
    k = f"v{versions.KUBERNETES}"
    listed = [f"registry.k8s.io/kube-apiserver:{k}", f"registry.k8s.io/kube-controller-manager:{k}",
              f"registry.k8s.io/kube-scheduler:{k}", f"registry.k8s.io/kube-proxy:{k}",
              f"registry.k8s.io/coredns/coredns:v{versions.COREDNS}",
              f"registry.k8s.io/pause:{versions.PAUSE}", "registry.k8s.io/etcd:3.6.5-0"]
    assert kb.image_mismatches("\n".join(listed)) == []
    listed[-1] = "registry.k8s.io/etcd:3.5.24-0"
    assert kb.image_mismatches("\n".join(listed)) == ["etcd:3.5.24-0 (built: 3.6.5-0)"]


# ------------------------------------------------------------------------ the cache decision
def _fake_build(root: Path, want: dict) -> dict:
    """A build directory as build() leaves it, with small stand-in binaries."""
    built = {}
    for name, spec in want["components"].items():
        binaries = {}
        for prog in spec["programs"]:
            path = root / "bin" / prog
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"#!/bin/sh\necho {prog}\n")
            binaries[prog] = {"sha256": kb.sha256_file(path), "size": path.stat().st_size}
        built[name] = {"pins": spec["pins"], "binaries": binaries, "seconds": 1.0}
    manifest = {**want, "digest": kb.digest(want), "built": built}
    (root / kb.MANIFEST).write_text(json.dumps(manifest))
    return manifest


def test_a_matching_manifest_is_reused(tmp_path):
    want = kb.wanted(GO_OK)
    manifest = _fake_build(tmp_path, want)
    assert kb.stale_components(manifest, want, tmp_path, list(kb.COMPONENTS)) == {}


def test_a_pin_change_rebuilds_that_component(tmp_path):
    want = kb.wanted(GO_OK)
    manifest = _fake_build(tmp_path, want)
    table = {**kb.COMPONENTS, "etcd": dataclasses.replace(kb.COMPONENTS["etcd"], version="v3.6.99")}
    new = kb.wanted(GO_OK, table)
    assert kb.digest(new) != kb.digest(want)  # a new build directory
    stale = kb.stale_components(manifest, new, tmp_path, list(kb.COMPONENTS))
    assert list(stale) == ["etcd"] and "v3.6.99" in stale["etcd"]


def test_a_new_go_or_builder_revision_rebuilds_everything(tmp_path):
    want = kb.wanted(GO_OK)
    manifest = _fake_build(tmp_path, want)
    assert kb.digest(kb.wanted("go1.27.0")) != kb.digest(want)
    newer = kb.stale_components(manifest, kb.wanted("go1.27.0"), tmp_path, ["pause"])
    assert "go changed" in newer["pause"]
    old = {**manifest, "builder": kb.BUILDER_REVISION - 1}
    assert "builder changed" in kb.stale_components(old, want, tmp_path, ["crictl"])["crictl"]


def test_a_missing_or_changed_binary_rebuilds_its_component(tmp_path):
    want = kb.wanted(GO_OK)
    manifest = _fake_build(tmp_path, want)
    (tmp_path / "bin" / "etcdctl").unlink()
    with open(tmp_path / "bin" / "kubelet", "a") as fh:
        fh.write("truncated or replaced\n")
    stale = kb.stale_components(manifest, want, tmp_path, list(kb.COMPONENTS))
    assert sorted(stale) == ["etcd", "kubernetes"]
    assert str(tmp_path / "bin" / "etcdctl") in stale["etcd"]
    assert kb.stale_components(None, want, tmp_path, ["pause"]) == {"pause": "not built yet"}


# ------------------------------------------------------------------------ with a fake go
FAKE_GO = """#!/bin/sh
case "$1 $2" in
  "env GOVERSION") echo "$FAKE_GO_VERSION"; exit 0 ;;
  "mod download") [ -n "$FAKE_GO_DOWNLOAD" ] && cat "$FAKE_GO_DOWNLOAD" && exit 0 ;;
esac
[ -n "$FAKE_GO_ERROR" ] && echo "$FAKE_GO_ERROR" >&2
echo "fake go: cannot $*" >&2
echo "env: GOTOOLCHAIN=$GOTOOLCHAIN CGO_ENABLED=$CGO_ENABLED" \\
     "GOMODCACHE=$GOMODCACHE GOCACHE=$GOCACHE" >&2
exit 1
"""


@pytest.fixture
def fake_go(tmp_path, monkeypatch):
    """PATH holds only a fake ``go`` (and sh): reports FAKE_GO_VERSION, fails everything else."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    (bindir / "go").write_text(FAKE_GO)
    (bindir / "go").chmod(0o755)
    for tool in ("sh", "cat"):
        if shutil.which(tool):
            (bindir / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.setenv("FAKE_GO_VERSION", GO_OK)
    monkeypatch.delenv("FAKE_GO_DOWNLOAD", raising=False)
    monkeypatch.delenv("FAKE_GO_ERROR", raising=False)
    monkeypatch.setattr(kb, "GO_FALLBACKS", ())
    return bindir


def test_a_failing_go_build_names_the_module_the_component_and_the_log(tmp_path, fake_go,
                                                                      monkeypatch):
    up = tmp_path / "upstream"
    up.mkdir()
    (up / "go.mod").write_text("module sigs.k8s.io/cri-tools\n\ngo 1.24.1\n")
    (up / "info").write_text('{"Version": "v1.34.0", "Time": "2025-08-01T00:00:00Z"}')
    (up / "download.json").write_text(json.dumps({
        "Path": "sigs.k8s.io/cri-tools", "Version": f"v{versions.CRI_TOOLS}",
        "GoMod": str(up / "go.mod"), "Info": str(up / "info"), "Dir": str(up)}, indent="\t"))
    monkeypatch.setenv("FAKE_GO_DOWNLOAD", str(up / "download.json"))
    out = io.StringIO()
    with pytest.raises(kb.KubeBuildError) as err:
        kb.build(out=out, cache=tmp_path / "cache", log_dir=tmp_path / "logs",
                 components=["crictl"])
    msg = str(err.value)
    log = tmp_path / "logs" / "crictl.log"
    assert f"sigs.k8s.io/cri-tools@v{versions.CRI_TOOLS}" in msg
    assert msg.startswith("kube-crictl: ")
    assert f"full log {log}" in msg
    assert "fake go: cannot build -mod=mod -trimpath" in msg  # the log's tail
    kube = tmp_path / "cache" / "kube"
    assert (f"env: GOTOOLCHAIN={GO_OK} CGO_ENABLED=0 GOMODCACHE={kube / 'gomod'} "
            f"GOCACHE={kube / 'gocache'}") in log.read_text()  # a cold cache is a cold build
    assert out.getvalue() == (f"setup: kube: building crictl with {GO_OK} into "
                              f"{kb.kube_cache(tmp_path / 'cache') / kb.digest(kb.wanted(GO_OK))}"
                              f" (not built yet; Go's caches are empty: 8 min on 2 cores)\n")
    work = tmp_path / "cache" / "kube" / "work" / "crictl" / "go.mod"
    assert f"\tsigs.k8s.io/cri-tools v{versions.CRI_TOOLS}\n" in work.read_text()
    assert not list((tmp_path / "cache" / "kube").glob("*/bin/crictl"))
    assert not list((tmp_path / "cache" / "kube").glob(f"*/{kb.MANIFEST}"))


def test_a_module_needing_a_newer_go_is_named_with_the_toolchain_to_use(tmp_path, fake_go,
                                                                       monkeypatch):
    monkeypatch.setenv("FAKE_GO_ERROR", "go: go.etcd.io/etcd/api/v3@v3.6.5 requires go >= "
                                        "1.27.1 (running go 1.26.8; GOTOOLCHAIN=go1.26.8)")
    with pytest.raises(kb.KubeBuildError) as err:
        kb.build(out=io.StringIO(), cache=tmp_path, components=["etcd"])
    assert str(err.value).endswith(f"a module needs Go >= 1.27.1 and this is {GO_OK}: install it,"
                                   " or set GOTOOLCHAIN=go1.27.1 so go fetches it from the module"
                                   " proxy")


def test_only_other_build_directories_are_superseded(tmp_path):
    for name in ("f7ee4f02bbf7", "0123456789ab", "gomod", "gocache", "logs", "work"):
        (tmp_path / name).mkdir()
    assert kb.superseded(tmp_path, tmp_path / "f7ee4f02bbf7") == [tmp_path / "0123456789ab"]


def test_a_failing_download_names_the_module_too(tmp_path, fake_go):
    with pytest.raises(kb.KubeBuildError) as err:
        kb.build(out=io.StringIO(), cache=tmp_path, components=["etcd"])
    msg = str(err.value)
    assert f"go.etcd.io/etcd/server/v3@v{versions.ETCD}" in msg and "kube-etcd" in msg
    assert str(tmp_path / "kube" / "logs" / "etcd.log") in msg
    assert "fake go: cannot mod download -json" in msg


def test_a_missing_go_raises_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(kb, "GO_FALLBACKS", ())
    with pytest.raises(kb.KubeBuildError, match=r"Go is not installed .*needs Go >= 1\.24\.1: "
                                                r"install the Go tarball"):
        kb.build(out=io.StringIO(), cache=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
    assert kb.cached(cache=tmp_path / "cache") is None


def test_a_go_older_than_the_go_mod_raises_before_any_work(tmp_path, fake_go, monkeypatch):
    monkeypatch.setenv("FAKE_GO_VERSION", "go1.22.5")
    with pytest.raises(kb.KubeBuildError) as err:
        kb.build(out=io.StringIO(), cache=tmp_path / "cache", components=["kubernetes"])
    msg = str(err.value)
    assert f"k8s.io/kubernetes@v{versions.KUBERNETES}" in msg and "is go1.22.5" in msg
    assert "GOTOOLCHAIN=go1.24.0" in msg
    assert not (tmp_path / "cache").exists()


def test_build_returns_a_complete_cache_without_running_anything(tmp_path, fake_go):
    want = kb.wanted(GO_OK)
    root = kb.kube_cache(tmp_path) / kb.digest(want)
    root.mkdir(parents=True)
    _fake_build(root, want)
    assert kb.cached(cache=tmp_path) == root / "bin"
    out = io.StringIO()
    assert kb.build(out=out, cache=tmp_path) == root / "bin"  # the fake go would fail a build
    assert out.getvalue() == (f"setup: kube: {', '.join(kb.COMPONENTS)} cached in "
                              f"{root / 'bin'} ({GO_OK})\n")
    (root / "bin" / "coredns").unlink()
    assert kb.cached(cache=tmp_path) is None
    assert kb.cached(cache=tmp_path, components=["etcd", "pause"]) == root / "bin"


def test_unknown_components_are_refused():
    with pytest.raises(ValueError, match="unknown components"):
        kb.select(["kubernetes", "calico"])
