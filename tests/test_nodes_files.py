"""What the nodes target writes into its nodes, offline: the packages' stand-ins (links,
units), containerd's two settings (run against the real containerd's own default config
where containerd is installed, each read back from what containerd loads), and the
helper image's package picked from Debian's index and checked against it."""

from __future__ import annotations

import hashlib
import lzma
import os
import shutil
import subprocess

import pytest

from cephlab.errors import LabError
from cephlab.nodes import busybox, kubefiles

pytestmark = pytest.mark.standin


def test_the_packages_stand_ins_are_valid_shell_and_refuse_a_missing_program(tmp_path):
    script = kubefiles.packages_script(tmp_path)
    assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0
    assert "ExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS" in script
    assert "EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env" in script
    # run only the check part: no program is there, so it stops naming the first one
    check = script.split("\nln -sfn", 1)[0]
    res = subprocess.run(["sh", "-c", check], capture_output=True, text=True)
    assert res.returncode == 1 and f"{tmp_path}/kubeadm is missing" in res.stdout


@pytest.mark.skipif(not shutil.which("containerd"), reason="containerd is not installed here")
def test_containerds_settings_are_written_and_read_back(tmp_path):
    conf = tmp_path / "config.toml"
    conf.write_text(subprocess.run(["containerd", "config", "default"], capture_output=True,
                                   text=True, check=True).stdout)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "systemctl").chmod(0o755)
    env = dict(os.environ, CONTAINERD_CONFIG=str(conf), PATH=f"{bin_dir}:{os.environ['PATH']}")
    res = subprocess.run(["sh", "-c", kubefiles.containerd_script()], env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    text = conf.read_text()
    assert f'sandbox_image = "{kubefiles.PAUSE_IMAGE}"' in text
    assert "restrict_oom_score_adj = true" in text
    # a config without the line is refused, not silently left as it was
    conf.write_text(text.replace("restrict_oom_score_adj = true", ""))
    res = subprocess.run(["sh", "-c", kubefiles.containerd_script()], env=env,
                         capture_output=True, text=True)
    assert res.returncode == 1 and "no restrict_oom_score_adj" in res.stderr


INDEX = """Package: busybox
Version: 1:1.37.0-6+b9
Filename: pool/main/b/busybox/busybox_1.37.0-6+b9_amd64.deb

Package: busybox-static
Version: 1:1.37.0-6+b9
Filename: pool/main/b/busybox/busybox-static_1.37.0-6+b9_amd64.deb
SHA256: {sha}
Description: BusyBox
 a continuation line: with a colon

"""


def test_the_helper_images_package_is_picked_and_checked(tmp_path, monkeypatch):
    deb = b"not really a deb"
    index = INDEX.format(sha=hashlib.sha256(deb).hexdigest())
    served = {"Packages.xz": lzma.compress(index.encode()), ".deb": deb}
    fetched = []

    def fetch(url):
        fetched.append(url)
        return next(v for k, v in served.items() if url.endswith(k))
    path, fields = busybox.package(tmp_path, fetch)
    assert path.read_bytes() == deb and fields["Version"] == "1:1.37.0-6+b9"
    assert busybox.upstream_release(fields["Version"]) == "1.37.0"
    assert fetched[0].endswith("/dists/trixie/main/binary-amd64/Packages.xz")
    busybox.package(tmp_path, fetch)
    assert sum(u.endswith(".deb") for u in fetched) == 1        # cached and still matching
    served[".deb"] = b"tampered"
    path.unlink()
    with pytest.raises(LabError, match="does not match the SHA256"):
        busybox.package(tmp_path, fetch)
    served["Packages.xz"] = lzma.compress(index.replace("1.37.0-6", "1.38.0-1").encode())
    with pytest.raises(LabError, match="not the 1.37.0 the lab pins"):
        busybox.package(tmp_path, fetch)
