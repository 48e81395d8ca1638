"""Objects the plan relies on but does not render itself, declared once: what an upstream
manifest applied by URL creates, what the dashboard's Helm chart creates, what a kubeadm
(or any existing) cluster has, and what Rook's operator makes from each custom resource.

The plan checker (:mod:`cephlab.k8s.plan_check`) and the offline stand-ins read this table;
Rook-made objects exist only once the custom resource that makes them exists (and, for the
stand-ins, while the operator runs). Each entry names its upstream source at the pinned
version (Rook v1.20.6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

from .. import versions
from .objects import APPS_NS, DASHBOARD_NS, ROOK_NS, Obj
from .plan_ops import Ref


@dataclass(frozen=True)
class Made:
    ref: Ref
    #: for workloads (Deployment, DaemonSet, Pod, Job): the labels of their pods
    pod_labels: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)


def _ns(name: str) -> Made:
    return Made(Ref("Namespace", name))


def _workload(kind: str, name: str, namespace: str, **labels: str) -> Made:
    return Made(Ref(kind, name, namespace), dict(labels))


#: kind of a custom resource -> its CRD (deploy/examples/crds.yaml)
CRD_OF_KIND = {
    "CephCluster": "cephclusters.ceph.rook.io",
    "CephBlockPool": "cephblockpools.ceph.rook.io",
    "CephFilesystem": "cephfilesystems.ceph.rook.io",
    "CephObjectStore": "cephobjectstores.ceph.rook.io",
    "ObjectBucketClaim": "objectbucketclaims.objectbucket.io",
}

#: a cluster kubeadm made (or any existing cluster): the built-in namespaces
CLUSTER_BASE: tuple[Made, ...] = tuple(_ns(n) for n in ("default", "kube-system", "kube-public",
                                                        "kube-node-lease"))

_ROOK = dict(zip(("crds", "common", "csi-operator", "operator"), versions.ROOK_MANIFESTS, strict=True))
#: manifest URL -> what applying it creates (only what the plan relies on)
FROM_URL: dict[str, tuple[Made, ...]] = {
    _ROOK["crds"]: tuple(Made(Ref("CustomResourceDefinition", crd)) for crd in CRD_OF_KIND.values()),
    _ROOK["common"]: (_ns(ROOK_NS),),      # common.yaml: Namespace rook-ceph, RBAC
    _ROOK["csi-operator"]: (),
    # operator.yaml: ConfigMap rook-ceph-operator-config, Deployment rook-ceph-operator
    _ROOK["operator"]: (Made(Ref("ConfigMap", "rook-ceph-operator-config", ROOK_NS)),
                        _workload("Deployment", "rook-ceph-operator", ROOK_NS,
                                  app="rook-ceph-operator")),
    versions.CALICO_MANIFEST: (_workload("DaemonSet", "calico-node", "kube-system",
                                         **{"k8s-app": "calico-node"}),
                               _workload("Deployment", "calico-kube-controllers", "kube-system",
                                         **{"k8s-app": "calico-kube-controllers"})),
}

#: Helm release -> what the chart creates (Dashboard 7.x serves through Kong)
FROM_HELM: dict[str, tuple[Made, ...]] = {
    "kubernetes-dashboard": (
        _ns(DASHBOARD_NS),
        _workload("Deployment", "kubernetes-dashboard-kong", DASHBOARD_NS,
                  **{"app.kubernetes.io/name": "kong",
                     "app.kubernetes.io/instance": "kubernetes-dashboard"}),
    ),
}


def made_by(obj: Obj, cluster_nodes: tuple[str, ...] = ()) -> tuple[Made, ...]:
    """What Rook (or the bucket provisioner) makes from custom resource ``obj``."""
    kind, meta = obj["kind"], obj["metadata"]
    name, ns = meta["name"], meta.get("namespace")
    if kind == "CephCluster":
        made = [
            # pkg/operator/ceph/csi/secrets.go: the CSI users' secrets
            *(Made(Ref("Secret", s, ns)) for s in ("rook-csi-rbd-provisioner", "rook-csi-rbd-node",
                                                    "rook-csi-cephfs-provisioner",
                                                    "rook-csi-cephfs-node")),
            # the mon secret and endpoints the toolbox reads
            Made(Ref("Secret", "rook-ceph-mon", ns)),
            Made(Ref("ConfigMap", "rook-ceph-mon-endpoints", ns)),
            # pkg/operator/ceph/cluster/mgr/dashboard.go: password secret and Service
            Made(Ref("Secret", "rook-ceph-dashboard-password", ns)),
            Made(Ref("Service", "rook-ceph-mgr-dashboard", ns)),
            *(_workload("Deployment", f"rook-ceph-mon-{m}", ns, app="rook-ceph-mon",
                        rook_cluster=ns) for m in "abc"),
            # mgr.go: the active mgr's pod carries mgr_role=active
            _workload("Deployment", "rook-ceph-mgr-a", ns, app="rook-ceph-mgr", mgr_role="active",
                      rook_cluster=ns),
        ]
        # osd.go: OSD pods carry app=rook-ceph-osd; their ids are known only at run time
        made.append(_workload("Deployment", "rook-ceph-osd-*", ns, app="rook-ceph-osd"))
        return tuple(made)
    if kind == "CephFilesystem":   # file/mds/spec.go labels rook_file_system
        return tuple(_workload("Deployment", f"rook-ceph-mds-{name}-{x}", ns, app="rook-ceph-mds",
                               rook_file_system=name) for x in "ab")
    if kind == "CephObjectStore":  # object/spec.go labels rook_object_store
        return (_workload("Deployment", f"rook-ceph-rgw-{name}-a", ns, app="rook-ceph-rgw",
                          rook_object_store=name),
                Made(Ref("Service", f"rook-ceph-rgw-{name}", ns)))
    if kind == "ObjectBucketClaim":  # the bucket provisioner: Secret and ConfigMap of the claim
        return (Made(Ref("Secret", name, ns or APPS_NS)), Made(Ref("ConfigMap", name, ns or APPS_NS)))
    return ()


def url_objects(url: str) -> Optional[tuple[Made, ...]]:
    """What applying ``url`` creates; None for a URL this table does not know."""
    return FROM_URL.get(url)
