"""The lab's small helper image (``busybox:1.37.0``, :data:`cephlab.versions.HELPER_IMAGE`)
for the node containers, from Debian's busybox-static of the same upstream release.

No registry can be reached, so the image is written here: Debian trixie's
``busybox-static`` package (BusyBox 1.37.0, statically linked) is downloaded from the Debian
mirror this machine's apt uses, checked against the SHA256 of the suite's signed-off
``Packages`` index, unpacked with ``dpkg-deb``, and laid out as ``/bin/busybox`` with a link
per applet. The run's header names where it came from (:func:`origin`).
"""

from __future__ import annotations

import hashlib
import lzma
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import Callable, Optional

from ..errors import LabError
from .. import versions
from ..local.rootfs import host_mirror
from . import images

SUITE = "trixie"
PACKAGE = "busybox-static"
#: The docker.io repository the lab's manifests name (short names mean docker.io/library/).
REPOSITORY = "docker.io/library/busybox"

Say = Callable[[str], None]


def parse_index(text: str, package: str = PACKAGE) -> dict[str, str]:
    """The ``Packages`` stanza of ``package``: its fields (Version, Filename, SHA256, …)."""
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line[:1] not in (" ", "\t") and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Package") == package:
            return fields
    raise LabError(f"Debian {SUITE}'s index lists no {package}")


def upstream_release(debian_version: str) -> str:
    """``1:1.37.0-6+b9`` -> ``1.37.0``."""
    return debian_version.split(":", 1)[-1].rsplit("-", 1)[0]


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as res:
        return res.read()


def package(cache: Path, fetch: Callable[[str], bytes] = _fetch) -> tuple[Path, dict[str, str]]:
    """The .deb in the cache (downloaded and checked once) and its index fields."""
    mirror = host_mirror()
    index = lzma.decompress(fetch(f"{mirror}/dists/{SUITE}/main/binary-amd64/Packages.xz"))
    fields = parse_index(index.decode())
    want = versions.HELPER_IMAGE.rsplit(":", 1)[1]
    if upstream_release(fields["Version"]) != want:
        raise LabError(f"Debian {SUITE} ships BusyBox {fields['Version']}, not the {want} the "
                       f"lab pins ({versions.HELPER_IMAGE}); update the pin or the suite")
    deb = cache / Path(fields["Filename"]).name
    if not deb.is_file() or hashlib.sha256(deb.read_bytes()).hexdigest() != fields["SHA256"]:
        data = fetch(f"{mirror}/{fields['Filename']}")
        if hashlib.sha256(data).hexdigest() != fields["SHA256"]:
            raise LabError(f"{fields['Filename']} does not match the SHA256 of Debian's index")
        cache.mkdir(parents=True, exist_ok=True)
        deb.write_bytes(data)
    return deb, fields


def spec(deb: Path, work: Path) -> images.ImageSpec:
    """The image from the unpacked package: /bin/busybox and one link per applet."""
    unpacked = work / "unpacked"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True, capture_output=True)
    program = unpacked / "usr" / "bin" / "busybox"   # trixie merged /bin into /usr/bin
    applets = subprocess.run([str(program), "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    entries = [images.copy("bin/busybox", program, 0o755)]
    entries += [images.symlink(f"bin/{a}", "busybox") for a in sorted(set(applets)) if a != "busybox"]
    entries += [images.directory("tmp", 0o1777),
                images.text("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                                          "nobody:x:65534:65534:nobody:/home:/bin/false\n"),
                images.text("etc/group", "root:x:0:\nnogroup:x:65534:\n")]
    tag = versions.HELPER_IMAGE.rsplit(":", 1)[1]
    return images.ImageSpec(REPOSITORY, tag, (images.Layer(entries=tuple(entries),
                                                           comment=f"{deb.name}"),),
                            cmd=("sh",))


def archive(say: Say = print, cache: Optional[Path] = None) -> tuple[images.Archive, str]:
    """The cached image archive and a sentence saying where it came from."""
    base = images.cache_dir(cache)
    deb, fields = package(base / "debs")
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        found = images.ensure(spec(deb, Path(tmp)), cache, say)
    return found, origin(fields)


def origin(fields: dict[str, str]) -> str:
    return (f"{versions.HELPER_IMAGE} is written here from Debian {SUITE}'s {PACKAGE} "
            f"{fields['Version']} (BusyBox {upstream_release(fields['Version'])}), not pulled")
