"""What each stage applies and runs, per target, as typed operations (:mod:`.plan_ops`).

``build()`` takes everything that differs between labs as parameters (node names, the first
node's address, each node's devices, whether they are loop devices, the VM provider) and
returns one :class:`~cephlab.k8s.plan_ops.StagePlan` per stage of the one stage table
(:data:`cephlab.stages.STAGES`), in stage order. Nothing secret appears in an operation:
credentials live in Secret objects, run-time values (join command, dashboard token, OSD
ids) stay in the engine or in shell variables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence, Union

from .. import model
from ..stages import STAGES, Stage
from . import manifests as m
from . import versions
from .objects import ROOK_NS, TOOLBOX, Obj, crush_host_name
from .plan_ops import (ApplyUrl, Delete, ApplyUrlEdited, Exec, FetchKubeconfig, HelmInstall,
                       HttpCheck, KubeadmJoin, Kubectl, NodeScript, Note, RemoveOsds, Rollout,
                       Scale, Ssh, StagePlan, Taint, Toolbox, WaitCondition,
                       WaitCount, WaitNodesReady, WaitPhase)
from .transport import Transport


@dataclass(frozen=True)
class Hosts:
    """What a target's plan does on the lab's hosts: the one thing the plans of the
    Kubernetes targets differ in. Each target class gives its own (``plan_hosts``)."""

    #: The target's name, for messages and commands.sh headers.
    target: str
    #: How a root shell reaches a node (node scripts, and kubeadm where the plan runs it).
    transport: Transport
    #: The plan makes Kubernetes itself on machines it has (kubeadm, join, Calico); False:
    #: the cluster exists already.
    builds_kubernetes: bool
    #: Stage vms's operations that bring the machines up (``vagrant up``); none where the
    #: target makes its machines outside the plan or has none to make.
    machines: tuple = ()
    #: Extra ``kubeadm init`` flags this kind of machine needs, each for a reason the target
    #: states.
    kubeadm_flags: tuple[str, ...] = ()
    #: The API server's URL as this machine reaches it, written into the fetched kubeconfig
    #: (None: kubeadm's own, the first node's address, is reachable from here).
    api_server: Optional[str] = None
    #: The plan installs Calico (stage cni); False: the target lays a pod network of its own
    #: before the plan's wait for Ready nodes, and names it as the substitute it is.
    calico: bool = True


def hosts_of(target: str) -> Hosts:
    """The plan context of target ``target`` for a lab not made yet (plan mode, tests)."""
    from ..targets import target_class

    hosts = getattr(target_class(target), "plan_hosts", None)
    if hosts is None:
        raise ValueError(f"the {target} target has no Kubernetes plan")
    return hosts()
WIPE_SCRIPT = "wipe-disks.sh"
LAB_DEVICES = ("sdc", "sdd")
ADMIN_CONF = "/etc/kubernetes/admin.conf"
#: operator.yaml's line for loop devices (Rook v1.20.6 deploy/examples/operator.yaml:32)
LOOP_DEVICES_OFF = '  ROOK_CEPH_ALLOW_LOOP_DEVICES: "false"'
LOOP_DEVICES_ON = '  ROOK_CEPH_ALLOW_LOOP_DEVICES: "true"'
#: BlueStore keeps copies of its label past the start of the disk: Rook's teardown guide
#: (Documentation/Storage-Configuration/ceph-teardown.md, "Zapping Devices") clears 200 KiB
#: at 0, 1, 10, 100 and 1000 GiB.
ZAP_OFFSETS_GIB = (0, 1, 10, 100, 1000)


def planned_stages() -> tuple[Stage, ...]:
    """The stages that build something (faults only acts on what others built)."""
    return tuple(s for s in STAGES if s.builds)


def wipe_script(devices: Sequence[str]) -> str:
    devs = " ".join(d if d.startswith("/dev/") else f"/dev/{d}" for d in devices)
    offsets = " ".join(str(o) for o in ZAP_OFFSETS_GIB)
    return f"""#!/bin/sh
# Make the removed node's OSD disks empty again, or Rook recreates OSDs on its next scan.
set -eu
for dev in {devs}; do
  wipefs --all "$dev"
  sgdisk --zap-all "$dev" || true
  size=$(blockdev --getsize64 "$dev")
  # 200 KiB at each offset the disk has (dd past the end would fail)
  for gib in {offsets}; do
    if [ $((gib * 1073741824 + 204800)) -le "$size" ]; then
      dd if=/dev/zero of="$dev" bs=1K count=200 seek=$((gib * 1048576)) oflag=direct,dsync status=none
    fi
  done
  blkdiscard "$dev" || true
  partprobe "$dev" || true
done
# ceph-volume LVM leftovers, if the OSDs were created in LVM mode
for mapping in /dev/mapper/ceph--*; do [ -e "$mapping" ] && dmsetup remove "$mapping"; done
rm -rf /dev/ceph-*
"""


def build(target: Union[str, Hosts], nodes: Sequence[str], secrets: Mapping[str, str], *,
          address: Optional[str] = None,
          devices: Optional[Mapping[str, Sequence[str]]] = None,
          hostnames: Optional[Mapping[str, str]] = None,
          loop_devices: bool = False,
          osd_storage: Optional[Callable[[Obj], Obj]] = None,
          osd_objects: Sequence[Obj] = (),
          osd_cleanup: Sequence[Delete] = ()) -> list[StagePlan]:
    """The plans of every building stage, in stage order, for ``target``'s hosts (a
    :class:`Hosts`, or a target name for its default).

    ``address``: where clients reach the first node's NodePorts (default: the lab's
    10.254.1.2). ``devices``: node -> the two devices that play sdc and sdd (default: sdc,
    sdd). ``hostnames``: node -> its kubernetes.io/hostname label (default: the node name),
    from which Rook names the CRUSH host. ``loop_devices``: Rook must accept loop devices.
    ``osd_storage``: another OSD layout (the cluster config's local volumes): it turns the
    CephCluster's ``spec.storage`` (nodes with the lab's device names sdc/sdd) into this
    cluster's; ``osd_objects`` are applied before the first CephCluster (its StorageClass and
    volumes), ``osd_cleanup`` runs in remove_node after the purge (the removed node's claims
    and volumes).
    """
    hosts = hosts_of(target) if isinstance(target, str) else target
    via = hosts.transport
    nodes = m.check_nodes(nodes)
    secrets = m.check_secrets(secrets)
    devices = {n: tuple((devices or {}).get(n, LAB_DEVICES)) for n in nodes}
    bad = [n for n, d in devices.items() if len(d) != len(LAB_DEVICES)]
    if bad:
        raise ValueError(f"node(s) {', '.join(bad)}: give exactly {len(LAB_DEVICES)} devices "
                         f"(they play {' and '.join(LAB_DEVICES)})")
    hostnames = {n: (hostnames or {}).get(n, n) for n in nodes}
    removed = nodes[model.NODES.index(model.REMOVED_NODE)]
    first, rest = nodes[0], nodes[1:]
    address = address or m.node_ip(0)
    plans = {s.slug: StagePlan(s) for s in planned_stages()}

    def cluster(members: Sequence[str], count: int) -> Obj:
        """The CephCluster on ``members``' first ``count`` devices, in this cluster's layout."""
        if osd_storage is None:
            return m.ceph_cluster(members, {n: devices[n][:count] for n in members})
        obj = m.ceph_cluster(members, LAB_DEVICES[:count])
        obj["spec"]["storage"] = osd_storage(obj["spec"]["storage"])
        return obj

    p = plans["vms"]
    if hosts.builds_kubernetes:
        p.add(*hosts.machines, *(
            Ssh(n, ("sh", "-c", "hostname; ip -4 -o addr show; lsblk -dno NAME,SIZE,TYPE"), sudo=False,
                via=via)
            for n in nodes))
    else:
        p.add(Note(f"{hosts.target} target: the nodes exist already; nothing is created"),
              Kubectl(("get", "nodes", "-o", "wide")))

    p = plans["kubernetes"]
    if hosts.builds_kubernetes:
        p.add(*(Ssh(n, ("swapoff", "-a"), via=via) for n in nodes))
        p.add(Note("kubeadm init only where it never ran: a second run finds admin.conf"),
              Ssh(first, ("kubeadm", "init", f"--kubernetes-version=v{versions.KUBERNETES}",
                          f"--pod-network-cidr={model.POD_CIDR}",
                          f"--apiserver-advertise-address={m.node_ip(0)}", *hosts.kubeadm_flags),
                  unless_exists=ADMIN_CONF, via=via),
              KubeadmJoin(first, rest, via=via),
              FetchKubeconfig(first, via=via, server=hosts.api_server))
    p.add(Kubectl(("version",)), Kubectl(("get", "nodes", "-o", "wide")))

    p = plans["cni"]
    if hosts.builds_kubernetes and not hosts.calico:
        p.add(Note(f"the {hosts.target} target lays its own pod network (a substitute it "
                   f"names) before this stage's wait"))
    if hosts.builds_kubernetes and hosts.calico:
        p.add(Note("Calico reads this ConfigMap (envFrom) when calico-node first starts: node "
                   "addresses are the kubelets' InternalIPs (the private network), never the "
                   "NAT interface"))
        p.apply(m.calico_settings())
        p.add(ApplyUrl(versions.CALICO_MANIFEST),
              Rollout("DaemonSet", "calico-node", "kube-system", 600))
    p.add(WaitNodesReady(600), Kubectl(("get", "nodes", "-o", "wide")))

    p = plans["master_isolation"]
    p.add(Taint(first, "node-role.kubernetes.io/control-plane:NoSchedule"),
          Kubectl(("get", "node", first, "-o", "jsonpath={.spec.taints}")))

    p = plans["dashboard"]
    p.add(HelmInstall("kubernetes-dashboard", versions.DASHBOARD_CHART_URL, m.DASHBOARD_NS))
    p.apply(*m.dashboard_access())
    p.add(Note("a short-lived bearer token, created at run time and never written down"),
          Kubectl(("-n", m.DASHBOARD_NS, "create", "token", "admin-user", "--duration=1h"),
                  secret=True),
          HttpCheck(f"https://{address}:{model.PORTS['dashboard']}/", insecure=True))

    p = plans["rook_operator"]
    crds, common, csi, operator = versions.ROOK_MANIFESTS
    p.add(ApplyUrl(crds), ApplyUrl(common), ApplyUrl(csi))
    if loop_devices:
        p.add(Note("the OSD devices are loop devices, which Rook skips unless its operator "
                   "config allows them: set in what is applied, never patched in later"),
              ApplyUrlEdited(operator, ((LOOP_DEVICES_OFF, LOOP_DEVICES_ON),)))
    else:
        p.add(ApplyUrl(operator))
    p.add(WaitCondition("CustomResourceDefinition", "cephclusters.ceph.rook.io", None,
                        "Established", 120),
          Rollout("Deployment", "rook-ceph-operator", ROOK_NS, 600))

    p = plans["ceph_cluster"]
    p.apply(*osd_objects)
    p.apply(cluster(nodes, 1))
    p.add(WaitPhase("CephCluster", "rook-ceph", ROOK_NS, "Ready", 1800),
          Kubectl(("-n", ROOK_NS, "get", "pods", "-l", "app=rook-ceph-osd", "-o", "wide")),
          Note("the Ceph CLI of every later stage runs in the toolbox"))
    p.apply(m.toolbox())
    p.add(Rollout("Deployment", TOOLBOX, ROOK_NS, 300))

    p = plans["ceph_dashboard"]
    p.apply(m.ceph_dashboard_service(ssl=False))
    p.add(Note("user admin; the password is read at run time from secret rook-ceph-dashboard-password"),
          HttpCheck(f"http://{address}:{model.PORTS['ceph_dashboard']}/"))

    p = plans["block_pool"]
    p.apply(m.block_pool(), m.rbd_storage_class())
    p.add(WaitPhase("CephBlockPool", model.BLOCK_POOL, ROOK_NS, "Ready", 600))

    p = plans["shared_filesystem"]
    p.apply(m.filesystem())
    p.add(WaitPhase("CephFilesystem", model.FS_NAME, ROOK_NS, "Ready", 900),
          Kubectl(("-n", ROOK_NS, "get", "pods", "-l",
                   f"app=rook-ceph-mds,rook_file_system={model.FS_NAME}")))

    p = plans["object_store"]
    p.apply(*m.object_store())
    p.add(WaitPhase("CephObjectStore", m.OBJECT_STORE, ROOK_NS, "Ready", 900),
          WaitPhase("ObjectBucketClaim", "lab-bucket", m.APPS_NS, "Bound", 300))

    p = plans["extend_storage"]
    p.apply(cluster(nodes, 2))
    p.add(WaitCount("Deployment", ROOK_NS, "app=rook-ceph-osd", 2 * len(nodes), 1800),
          WaitPhase("CephCluster", "rook-ceph", ROOK_NS, "Ready", 1800))

    p = plans["toolbox"]
    p.add(Note("the toolbox came with stage ceph_cluster: it must still be there"),
          Rollout("Deployment", TOOLBOX, ROOK_NS, 300),
          Toolbox(("status",)), Toolbox(("osd", "status")), Toolbox(("df",)),
          Toolbox(("df",), tool="rados"))

    p = plans["pg_num"]
    p.apply(m.block_pool(pg_num=model.PG_NUM_TARGET), m.filesystem(pg_num=model.PG_NUM_TARGET))
    for pool in (model.FS_DATA, model.BLOCK_POOL):
        p.add(Toolbox(("osd", "pool", "set", pool, "pg_autoscale_mode", "off")),
              Toolbox(("osd", "pool", "set", pool, "pg_num", str(model.PG_NUM_TARGET))),
              Toolbox(("osd", "pool", "get", pool, "pg_num")))

    p = plans["remove_node"]
    kept = tuple(n for n in nodes if n != removed)
    p.add(Note("the operator would re-create what is being removed: stop it for the duration"),
          Scale("rook-ceph-operator", ROOK_NS, 0))
    p.apply(cluster(kept, 2))
    p.add(RemoveOsds(crush_host_name(hostnames[removed])), *osd_cleanup)
    p.add(NodeScript(removed, WIPE_SCRIPT, wipe_script(devices[removed]), via=via))
    p.add(Scale("rook-ceph-operator", ROOK_NS, 1), Toolbox(("osd", "tree")), Toolbox(("status",)))

    p = plans["minio"]
    p.apply(*m.cephfs_helper())
    p.add(WaitCondition("Pod", "cephfs-helper", m.APPS_NS, "Ready", 300),
          Exec("Pod", "cephfs-helper", m.APPS_NS,
               ("mkdir", "-p", f"{m.CEPHFS_MOUNT}/minio", f"{m.CEPHFS_MOUNT}/ghost")))
    p.apply(m.minio_secret(secrets), *m.minio())
    p.add(Rollout("Deployment", "minio", m.APPS_NS, 600),
          HttpCheck(f"http://{address}:{model.PORTS['minio']}/minio/health/ready", path_ok=True))

    sql = ("sh", "-c", 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql -uroot -e "{}"')
    p = plans["mysql"]
    p.apply(m.mysql_secret(secrets), *m.mysql())
    p.add(Rollout("Deployment", "mysql", m.APPS_NS, 900),
          Exec("Deployment", "mysql", m.APPS_NS, (*sql[:2], sql[2].format("SHOW DATABASES"))))

    p = plans["ghost"]
    p.apply(m.ghost_database_job())
    p.add(WaitCondition("Job", "ghost-db-init", m.APPS_NS, "Complete", 600))
    p.apply(*m.ghost(f"http://{address}:{model.PORTS['ghost']}"))
    p.add(Rollout("Deployment", "ghost", m.APPS_NS, 900),
          HttpCheck(f"http://{address}:{model.PORTS['ghost']}/"),
          Exec("Deployment", "mysql", m.APPS_NS, (*sql[:2], sql[2].format("SHOW TABLES FROM ghost"))))

    return list(plans.values())


def by_stage(plans: Sequence[StagePlan]) -> dict[Stage, StagePlan]:
    return {p.stage: p for p in plans}
