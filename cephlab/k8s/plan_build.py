"""What each stage applies and runs, per target, as data (objects + shell lines).

``plan.write_plan`` turns this into files. Shell lines assume the header written by the
plan: ``$STAGE`` (this stage's directory), ``$TOOLS`` (a command prefix that runs in the
Rook toolbox) and, on the vagrant target, ``VAGRANT_CWD`` and ``KUBECONFIG``.
Nothing secret appears in a command: credentials live in Secret objects, and run-time
values (join token, dashboard token) stay in shell variables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from . import manifests as m
from . import versions

# (key, slug, title) in stage order; keys match the lab's numbering (object_store is 10b).
STAGES: tuple[tuple[str, str, str], ...] = (
    ("01", "vms", "three VMs from the Vagrantfile"),
    ("02", "kubernetes", "kubeadm init and join"),
    ("03", "cni", "Calico pod network"),
    ("04", "master_isolation", "control-plane taint removed"),
    ("05", "dashboard", "Kubernetes Dashboard with an admin token"),
    ("06", "rook_operator", "Rook operator and CRDs"),
    ("07", "ceph_cluster", "Ceph cluster on sdc of every node"),
    ("08", "ceph_dashboard", "Ceph mgr dashboard reachable"),
    ("09", "block_pool", "replicated pool replicapool and block storage"),
    ("10", "shared_filesystem", "CephFS k8s-fs with active and standby-replay MDS"),
    ("10b", "object_store", "S3 object storage on RGW"),
    ("11", "extend_storage", "sdd added on every node"),
    ("12", "toolbox", "Ceph CLI answers"),
    ("13", "pg_num", "pg_num 150 on k8s-fs-data0 and replicapool"),
    ("14", "remove_node", "first node's storage removed without data loss"),
    ("15", "minio", "MinIO on CephFS"),
    ("16", "mysql", "MySQL on Ceph block storage"),
    ("17", "ghost", "Ghost on CephFS and MySQL"),
)
TARGETS = ("vagrant", "cluster")
PG_NUM = 150
WIPE_SCRIPT = "wipe-disks.sh"


@dataclass
class StagePlan:
    key: str
    slug: str
    title: str
    objects: list[m.Obj] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    scripts: dict[str, str] = field(default_factory=dict)   # extra files, name -> text

    @property
    def dirname(self) -> str:
        return f"{self.key}_{self.slug}"

    def manifest_name(self, index: int) -> str:
        o = self.objects[index]
        return f"{index + 1:02d}-{o['kind'].lower()}-{o['metadata']['name']}.yaml"

    def apply(self, *objects: m.Obj) -> None:
        """Add objects and a ``kubectl apply`` line for each, in order."""
        for o in objects:
            self.objects.append(o)
            self.commands.append(f'kubectl apply -f "$STAGE/{self.manifest_name(len(self.objects) - 1)}"')

    def run(self, *lines: str) -> None:
        self.commands.extend(lines)


def _ssh(node: str, command: str) -> str:
    return f"vagrant ssh {node} -c '{command}'"


def _wait(kind: str, name: str, value: str, timeout: str, ns: str = m.ROOK_NS) -> str:
    return (f"kubectl -n {ns} wait {kind}/{name} --for=jsonpath='{{.status.phase}}'={value} "
            f"--timeout={timeout}")


def _ceph(*args: str) -> str:
    return "$TOOLS ceph " + " ".join(args)


def _ensure_toolbox(p: StagePlan) -> None:
    p.apply(m.toolbox())
    p.run("kubectl -n rook-ceph rollout status deploy/rook-ceph-tools --timeout=300s")


def _wipe_script(devices: tuple[str, ...]) -> str:
    devs = " ".join(f"/dev/{d}" for d in devices)
    return f"""#!/bin/sh
# Make the removed node's OSD disks empty again, or Rook recreates OSDs on its next scan.
set -eu
for dev in {devs}; do
  wipefs --all "$dev"
  sgdisk --zap-all "$dev" || true
  dd if=/dev/zero of="$dev" bs=1M count=100 oflag=direct,dsync
  blkdiscard "$dev" || true
done
# ceph-volume LVM leftovers, if the OSDs were created in LVM mode
for mapping in /dev/mapper/ceph--*; do [ -e "$mapping" ] && dmsetup remove "$mapping"; done
rm -rf /dev/ceph-*
"""


def build(target: str, nodes: tuple[str, ...], secrets: Mapping[str, str],
          vagrant_provider: str = "${LAB_PROVIDER:-virtualbox}") -> list[StagePlan]:
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; targets are: {', '.join(TARGETS)}")
    nodes = m.check_nodes(nodes)
    secrets = m.check_secrets(secrets)
    vagrant = target == "vagrant"
    first, rest = nodes[0], nodes[1:]
    master_ip = m.node_ip(0)
    plans = {slug: StagePlan(key, slug, title) for key, slug, title in STAGES}

    p = plans["vms"]
    if vagrant:
        p.run(f"vagrant up --provider={vagrant_provider}", "vagrant status --machine-readable")
        p.run(*(_ssh(n, "hostname; ip -4 -o addr show; lsblk -dno NAME,SIZE,TYPE") for n in nodes))
    else:
        p.run("# cluster target: the nodes exist already; nothing is created", "kubectl get nodes -o wide")

    p = plans["kubernetes"]
    if vagrant:
        p.run(*(_ssh(n, "sudo swapoff -a") for n in nodes))
        p.run(_ssh(first, f"sudo kubeadm init --kubernetes-version=v{versions.KUBERNETES} "
                          f"--pod-network-cidr={m.POD_CIDR} --apiserver-advertise-address={master_ip}"))
        p.run("# the join command carries a bootstrap token: it stays in a shell variable",
              "JOIN_CMD=\"$(" + _ssh(first, "sudo kubeadm token create --print-join-command")
              + " | tr -d '\\r')\"")
        p.run(*(f'vagrant ssh {n} -c "sudo $JOIN_CMD"' for n in rest))
        p.run(_ssh(first, "sudo cat /etc/kubernetes/admin.conf") + " | tr -d '\\r' > \"$KUBECONFIG\"",
              'chmod 600 "$KUBECONFIG"')
    p.run("kubectl version", "kubectl get nodes -o wide")

    p = plans["cni"]
    if vagrant:
        p.run(f"kubectl apply --server-side -f {versions.CALICO_MANIFEST}",
              "# node addresses from the private network, never the NAT interface",
              "kubectl -n kube-system set env daemonset/calico-node "
              f"IP_AUTODETECTION_METHOD=cidr={m.SUBNET}.0/24 CALICO_IPV4POOL_CIDR={m.POD_CIDR}",
              "kubectl -n kube-system rollout status daemonset/calico-node --timeout=600s")
    p.run("kubectl wait node --all --for=condition=Ready --timeout=600s", "kubectl get nodes -o wide")

    p = plans["master_isolation"]
    p.run(f"kubectl taint nodes {first} node-role.kubernetes.io/control-plane:NoSchedule-"
          + ("" if vagrant else " || true"),
          f"kubectl get node {first} -o jsonpath='{{.spec.taints}}'")

    p = plans["dashboard"]
    p.run(f"helm upgrade --install kubernetes-dashboard {versions.DASHBOARD_CHART_URL} "
          "--namespace kubernetes-dashboard --create-namespace --wait --timeout 10m")
    p.apply(*m.dashboard_access())
    p.run("# a short-lived bearer token, created at run time and never written down",
          "TOKEN=\"$(kubectl -n kubernetes-dashboard create token admin-user --duration=1h)\"",
          'test -n "$TOKEN"',
          f"curl -ks -o /dev/null -w '%{{http_code}}\\n' https://{master_ip}:{m.PORTS['dashboard']}/")

    p = plans["rook_operator"]
    p.run(*(f"kubectl apply --server-side -f {url}" for url in versions.ROOK_MANIFESTS))
    p.run("kubectl wait --for=condition=Established crd/cephclusters.ceph.rook.io --timeout=120s",
          "kubectl -n rook-ceph rollout status deploy/rook-ceph-operator --timeout=600s")

    p = plans["ceph_cluster"]
    p.apply(m.ceph_cluster(nodes, ("sdc",)))
    p.run(_wait("cephcluster", "rook-ceph", "Ready", "1800s"),
          "kubectl -n rook-ceph get pods -l app=rook-ceph-osd -o wide")

    p = plans["ceph_dashboard"]
    p.apply(m.ceph_dashboard_service(ssl=False))
    p.run("# user admin; the password is read at run time from secret rook-ceph-dashboard-password",
          f"curl -s -o /dev/null -w '%{{http_code}}\\n' http://{master_ip}:{m.PORTS['ceph_dashboard']}/")

    p = plans["block_pool"]
    p.apply(m.block_pool(), m.rbd_storage_class())
    p.run(_wait("cephblockpool", m.BLOCK_POOL, "Ready", "600s"))

    p = plans["shared_filesystem"]
    p.apply(m.filesystem())
    p.run(_wait("cephfilesystem", m.FS_NAME, "Ready", "900s"),
          f"kubectl -n rook-ceph get pods -l app=rook-ceph-mds,rook_file_system={m.FS_NAME}")

    p = plans["object_store"]
    p.apply(*m.object_store())
    p.run(_wait("cephobjectstore", m.OBJECT_STORE, "Ready", "900s"),
          _wait("objectbucketclaim", "lab-bucket", "Bound", "300s", ns="default"))

    p = plans["extend_storage"]
    p.apply(m.ceph_cluster(nodes, ("sdc", "sdd")))
    want = 2 * len(nodes)
    p.run(f"timeout 1800 sh -c 'until [ \"$(kubectl -n rook-ceph get deploy -l app=rook-ceph-osd "
          f"--no-headers | wc -l)\" -ge {want} ]; do sleep 15; done'",
          _wait("cephcluster", "rook-ceph", "Ready", "1800s"))

    p = plans["toolbox"]
    _ensure_toolbox(p)
    p.run(_ceph("status"), _ceph("osd status"), _ceph("df"), "$TOOLS rados df")

    p = plans["pg_num"]
    _ensure_toolbox(p)
    p.apply(m.block_pool(pg_num=PG_NUM), m.filesystem(pg_num=PG_NUM))
    for pool in (f"{m.FS_NAME}-data0", m.BLOCK_POOL):
        p.run(_ceph("osd pool set", pool, "pg_autoscale_mode off"),
              _ceph("osd pool set", pool, "pg_num", str(PG_NUM)),
              _ceph("osd pool get", pool, "pg_num"))

    p = plans["remove_node"]
    _ensure_toolbox(p)
    p.run(f"OSD_IDS=\"$({_ceph('osd ls-tree', first)} | tr -d '\\r')\"", 'test -n "$OSD_IDS"',
          "# the operator would re-create what is being removed: stop it for the duration",
          "kubectl -n rook-ceph scale deploy/rook-ceph-operator --replicas=0")
    p.apply(m.ceph_cluster(rest, ("sdc", "sdd")))
    p.run("# out first, while the OSDs still run: k8s-fs-data0 has failure domain osd, so both",
          f"# copies of a PG can sit on {first}; stopping its OSDs first would strand them",
          "for id in $OSD_IDS; do " + _ceph("osd out", "osd.$id") + "; done",
          "for id in $OSD_IDS; do timeout 3600 sh -c \"until " + _ceph("osd safe-to-destroy", "osd.$id")
          + "; do sleep 15; done\"; done",
          "for id in $OSD_IDS; do kubectl -n rook-ceph scale deploy/rook-ceph-osd-$id --replicas=0; done",
          "for id in $OSD_IDS; do " + _ceph("osd down", "osd.$id") + "; done",
          "for id in $OSD_IDS; do " + _ceph("osd purge", "$id", "--yes-i-really-mean-it") + "; done",
          _ceph("osd crush rm", first),
          "for id in $OSD_IDS; do kubectl -n rook-ceph delete deploy/rook-ceph-osd-$id --ignore-not-found; done")
    p.scripts[WIPE_SCRIPT] = _wipe_script(("sdc", "sdd"))
    if vagrant:
        p.run(f"vagrant ssh {first} -c 'sudo sh -s' < \"$STAGE/{WIPE_SCRIPT}\"")
    else:
        p.run(f"kubectl debug node/{first} --profile=sysadmin --image={versions.CEPH_IMAGE} -i "
              f"-- chroot /host sh -s < \"$STAGE/{WIPE_SCRIPT}\"")
    p.run("kubectl -n rook-ceph scale deploy/rook-ceph-operator --replicas=1",
          _ceph("osd tree"), _ceph("status"))

    p = plans["minio"]
    p.apply(*m.cephfs_helper())
    p.run("kubectl wait pod/cephfs-helper --for=condition=Ready --timeout=300s",
          "kubectl exec cephfs-helper -- mkdir -p /mnt/cephfs/minio /mnt/cephfs/ghost")
    p.apply(m.minio_secret(secrets), *m.minio())
    p.run("kubectl rollout status deploy/minio --timeout=600s",
          f"curl -sf http://{master_ip}:{m.PORTS['minio']}/minio/health/ready")

    p = plans["mysql"]
    p.apply(m.mysql_secret(secrets), *m.mysql())
    p.run("kubectl rollout status deploy/mysql --timeout=900s",
          "kubectl exec deploy/mysql -- sh -c 'MYSQL_PWD=\"$MYSQL_ROOT_PASSWORD\" mysql -uroot -e \"SHOW DATABASES\"'")

    p = plans["ghost"]
    p.apply(m.ghost_database_job())
    p.run("kubectl wait job/ghost-db-init --for=condition=Complete --timeout=600s")
    p.apply(*m.ghost())
    p.run("kubectl rollout status deploy/ghost --timeout=900s",
          f"curl -s -o /dev/null -w '%{{http_code}}\\n' http://{master_ip}:{m.PORTS['ghost']}/",
          "kubectl exec deploy/mysql -- sh -c 'MYSQL_PWD=\"$MYSQL_ROOT_PASSWORD\" mysql -uroot -e \"SHOW TABLES FROM ghost\"'")

    return [plans[slug] for _, slug, _ in STAGES]
