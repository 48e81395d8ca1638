"""``python3 -m cephlab setup --kube``: everything the nodes target builds once and caches.

In order, each with its progress lines and logs, each reused from its cache on a later run
(first, this machine's packages the node containers need: runc, debootstrap, iproute2):

1. the programs (:mod:`cephlab.nodes.kubebuild`): Kubernetes, etcd, CoreDNS, pause, crictl
   and the CNI plugins from their Go modules, one log per component;
2. the node containers' Debian root (:mod:`cephlab.nodes.noderoot`);
3. the images (:mod:`cephlab.nodes.images`, :mod:`cephlab.nodes.busybox`): every image
   kubeadm asks for and the lab's helper image, written from those programs and Debian.

Any failure names what failed and its log; nothing half-built is used later (each cache
entry is written under a lock and renamed into place when complete).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..setup_steps import Steps, apt_install, missing_packages


class _Lines:
    """``Steps.say`` as a text stream (kubebuild writes its own "setup: …" lines)."""

    def __init__(self, steps: Steps):
        self.steps = steps

    def write(self, text: str) -> None:
        for line in text.splitlines():
            self.steps.say(line.removeprefix("setup: "))

    def flush(self) -> None:
        sys.stdout.flush()


def ensure(steps: Steps) -> Path:
    """Build or reuse everything; returns the programs' directory."""
    from . import busybox, images, kubebuild, noderoot
    from .preflight import HOST_PROGRAMS

    start = time.monotonic()
    wanted = sorted(set(HOST_PROGRAMS.values()))
    missing = missing_packages(wanted)
    if missing:       # the programs this machine runs for the node containers
        apt_install(steps, missing, "kube")
    bin_dir = kubebuild.build(out=_Lines(steps), log_dir=steps.log_dir / "kube")
    root = noderoot.ensure(say=steps.say)
    steps.say(f"kube: node root {root.describe()}")
    archives = images.kubeadm_archives(bin_dir, say=steps.say)
    helper, origin = busybox.archive(say=steps.say)
    steps.say(f"kube: {len(archives) + 1} images in {images.cache_dir()} ({origin})")
    steps.say(f"kube: ready in {time.monotonic() - start:.1f}s; run the lab with "
              f"`make lab-nodes` (or .venv/bin/python -m pytest features/ --lab-target=nodes)")
    return bin_dir
