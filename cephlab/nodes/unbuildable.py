"""What the nodes target cannot build on this machine, and what was tried.

Every program and image of the nodes target is built here from the Go module proxy and
Debian's archive; no container registry is reached. These upstream pieces cannot be built
that way (checked against the proxy on 2026-12-04: a version counts as served only when its
module zip downloads and ``go mod download`` of its whole graph succeeds). The stages that
need them skip on the nodes target with this text; the other targets run them.
"""

from __future__ import annotations

from ..versions import CALICO, DASHBOARD_CHART, ROOK

ROOK_WHY = (f"Rook {ROOK} cannot be built here: its go.mod replaces github.com/rook/rook/pkg/apis "
        "with ./pkg/apis, a nested module that the module zip leaves out, and the Go module "
        "proxy serves pkg/apis only at a v1.16 pre-release commit (3170ac6a0c58, 23 files "
        f"behind {ROOK}; {ROOK}, v1.20.5, v1.20.0 and their commits were tried); the CSI "
        "driver it deploys (github.com/ceph/ceph-csi v3.17.0) and csi-node-driver-registrar "
        "are not served at any version tried either")
DASHBOARD = (f"the Kubernetes Dashboard {DASHBOARD_CHART} cannot be built here: the Go module proxy "
             "serves none of its modules (k8s.io/dashboard/api, auth, web, metrics-scraper: "
             "their tags and tag commits were tried; the older single-binary "
             "github.com/kubernetes/dashboard v2.7.0 too), and the chart's gateway, Kong, is "
             "OpenResty with Lua rocks, in no registry this machine reaches")
CALICO_WHY = (f"Calico {CALICO} cannot be built here: the Go module proxy serves "
          "github.com/projectcalico/calico neither at the tag nor at its commit (2e4da40144aa), "
          "and its one served snapshot (a 3.28 commit) lacks the nested module "
          "github.com/projectcalico/api that its go.mod replaces with ./api")

#: stage slug -> why it skips on the nodes target.
STAGES = {
    "dashboard": DASHBOARD,
    **{slug: ROOK_WHY for slug in ("rook_operator", "ceph_cluster", "ceph_dashboard", "block_pool",
                               "shared_filesystem", "object_store", "extend_storage", "toolbox",
                               "pg_num", "remove_node")},
    **{slug: f"it stores its data on the lab's Ceph, which Rook runs: {ROOK_WHY}"
       for slug in ("minio", "mysql", "ghost")},
}
