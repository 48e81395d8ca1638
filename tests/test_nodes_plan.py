"""The nodes target's plan, provisioning and pod network, offline: what runs inside the node
containers is the Vagrantfile's own provisioning and the vagrant plan's kubeadm lines, over
the node exec instead of ``vagrant ssh``; the pod network that stands in for Calico says so."""

from __future__ import annotations

import json
import subprocess

import pytest

from cephlab import registry
from cephlab.k8s import plan_ops as ops
from cephlab.k8s.plan_build import build
from cephlab.k8s.transport import NodeExec, VagrantSsh
from cephlab.nodes import podnet, provision
from cephlab.nodes.target import NodesTarget
from cephlab.targets import why_not

pytestmark = pytest.mark.standin

NODES = ("k8s-1", "k8s-2", "k8s-3")
SECRETS = {"minio_root_user": "lab-fixture-user", "minio_root_password": "plan-fixture-minio-8Hq2",
           "mysql_root_password": "plan-fixture-mysql-3Tz9", "ghost_db_user": "ghost",
           "ghost_db_password": "plan-fixture-ghost-5Wv1"}


def plans(hosts):
    return {p.slug: p for p in build(hosts, NODES, SECRETS)}


def host_ops(plan):
    return [op for op in plan.ops if isinstance(op, (ops.Ssh, ops.KubeadmJoin, ops.FetchKubeconfig,
                                                      ops.NodeScript))]


def test_kubeadm_lines_are_the_vagrant_plans_over_the_node_exec(tmp_path):
    nodes = plans(NodesTarget.plan_hosts(tmp_path, "127.0.1.2"))
    vagrant = plans("vagrant")
    for slug in ("vms", "kubernetes"):
        ours, theirs = host_ops(nodes[slug]), host_ops(vagrant[slug])
        assert [type(o) for o in ours] == [type(o) for o in theirs], slug
        assert all(isinstance(o.via, NodeExec) for o in ours)
        assert all(isinstance(o.via, VagrantSsh) for o in theirs)
    (init,) = [o for o in host_ops(nodes["kubernetes"]) if getattr(o, "argv", ())[:2] == ("kubeadm", "init")]
    (vinit,) = [o for o in host_ops(vagrant["kubernetes"]) if getattr(o, "argv", ())[:2] == ("kubeadm", "init")]
    # the same init, plus the one flag the forwarder needs: the API's certificate names the
    # loopback address the harness reaches it at
    assert init.argv == (*vinit.argv, "--apiserver-cert-extra-sans=127.0.1.2")
    exec_ = str(tmp_path / "bin" / "node-exec")
    assert init.render().startswith(f"{exec_} k8s-1 sh -c 'test -e /etc/kubernetes/admin.conf || kubeadm init")
    assert "sudo" not in init.render()       # the node exec is root already


def test_join_renders_the_token_in_a_variable_never_in_the_plan(tmp_path):
    (join,) = [o for o in plans(NodesTarget.plan_hosts(tmp_path))["kubernetes"].ops
               if isinstance(o, ops.KubeadmJoin)]
    text, exec_ = join.render(), tmp_path / "bin" / "node-exec"
    assert f'JOIN_CMD="$({exec_} k8s-1 sh -c \'kubeadm token create --print-join-command\'' in text
    assert f'{exec_} k8s-2 sh -c "test -e /etc/kubernetes/kubelet.conf || $JOIN_CMD"' in text


def test_no_calico_on_the_nodes_target_and_the_substitute_is_named(tmp_path):
    cni = plans(NodesTarget.plan_hosts(tmp_path))["cni"]
    assert not [o for o in cni.ops if isinstance(o, (ops.ApplyUrl, ops.Apply, ops.Rollout))]
    assert any(isinstance(o, ops.WaitNodesReady) for o in cni.ops)
    assert [s for s in NodesTarget.substitutes if "Calico v3.31.5" in s and "cannot be built" in s]
    vagrant_cni = plans("vagrant")["cni"]
    assert any(isinstance(o, ops.ApplyUrl) and "calico" in o.url for o in vagrant_cni.ops)


def test_the_registry_is_the_one_list_of_targets():
    assert "nodes" in registry.TARGETS and "nodes" in registry.kubernetes_targets()
    reason = why_not("local", "cni")
    assert "--lab-target=nodes" in reason and "--lab-target=vagrant" in reason
    for slug in ("vms", "kubernetes", "cni", "master_isolation"):
        assert why_not("nodes", slug) is None, slug
    assert "local target only" in why_not("nodes", "faults")


# ------------------------------------------------------------------ provisioning
def test_every_part_of_the_vagrantfile_provisioning_is_run_or_left_out_with_a_reason():
    found = provision.parts(provision.provision_script())
    assert set(found) == set(provision.RUN) | set(provision.LEFT_OUT)
    assert all(len(why) > 40 for why in provision.LEFT_OUT.values())


def test_an_unknown_part_is_refused_not_skipped(tmp_path):
    vf = tmp_path / "Vagrantfile"
    text = provision.VAGRANTFILE.read_text().replace(
        "  # >>> disks\n", "  # >>> firewall\n  ufw enable\n  # <<< firewall\n\n  # >>> disks\n")
    vf.write_text(text)
    with pytest.raises(ValueError, match="part\\(s\\) firewall that cephlab/nodes/provision.py neither runs"):
        provision.node_script({}, vf)


def test_the_node_script_is_the_vagrantfiles_text_and_valid_bash():
    hosts = {n: f"10.254.1.{i + 2}" for i, n in enumerate(NODES)}
    script = provision.node_script(provision.node_env(hosts["k8s-2"], hosts))
    vagrant = provision.provision_script()
    for name in provision.RUN:
        assert provision.parts(vagrant)[name] in script, name
    for name in provision.LEFT_OUT:
        assert provision.parts(vagrant)[name] not in script, name
    assert "export NODE_IP='10.254.1.3'" in script and "10.254.1.4 k8s-3" in script
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0


# ------------------------------------------------------------------ pod network
def test_pod_network_config_and_routes():
    cidrs = {"k8s-1": "192.168.0.0/24", "k8s-2": "192.168.1.0/24", "k8s-3": "192.168.2.0/24"}
    addrs = {n: f"10.254.1.{i + 2}" for i, n in enumerate(NODES)}
    conf = json.loads(podnet.conflist(cidrs["k8s-2"]))
    bridge = conf["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["ipam"]["ranges"] == [[{"subnet": "192.168.1.0/24"}]]
    assert bridge["ipMasq"] is False           # pods reach each other with their own addresses
    assert podnet.routes("k8s-2", cidrs, addrs) == [
        ["ip", "route", "replace", "192.168.0.0/24", "via", "10.254.1.2", "dev", "eth0"],
        ["ip", "route", "replace", "192.168.2.0/24", "via", "10.254.1.4", "dev", "eth0"]]
    script = podnet.node_script("k8s-2", cidrs, addrs)
    assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0
    with pytest.raises(ValueError, match="k8s-3 has no pod CIDR"):
        podnet.node_script("k8s-3", {"k8s-1": "192.168.0.0/24"}, addrs)
    with pytest.raises(ValueError):
        podnet.node_script("k8s-1", {"k8s-1": "not-a-network"}, addrs)


def test_pod_cidrs_from_node_objects():
    nodes = [{"metadata": {"name": "k8s-1"}, "spec": {"podCIDR": "192.168.0.0/24"}},
             {"metadata": {"name": "k8s-2"}, "spec": {}}]
    assert podnet.pod_cidrs(nodes) == {"k8s-1": "192.168.0.0/24"}


def test_nothing_on_this_machine_is_pointed_at_the_labs_private_network(tmp_path, monkeypatch):
    """10.254.1.x lives in the lab's own namespaces; from this machine it would leave through
    the default route. Every client address of the plan is the forwarder's loopback one."""
    from cephlab.config import LabConfig
    from cephlab.k8s import ops_host
    from cephlab.state import LabState

    cfg = LabConfig(target="nodes", target_reason="test", lab_dir=tmp_path / "lab", ip_prefix="127.0.77")
    target = NodesTarget(cfg, LabState(cfg.lab_dir, cfg.options()))
    monkeypatch.setattr(NodesTarget, "nodes", property(lambda self: type("N", (), {
        "devices": lambda _: {n: (f"loop{i}0", f"loop{i}1") for i, n in enumerate(NODES)}})()))
    plans = target.plans()
    for plan in plans.values():
        for op in plan.ops:
            if isinstance(op, ops.HttpCheck):
                assert op.url.startswith("http://127.0.77.2:") or op.url.startswith("https://127.0.77.2:"), op.url
            if isinstance(op, ops_host.FetchKubeconfig):
                assert op.server == "https://127.0.77.2:6443"
    (init,) = [o for p in plans.values() for o in p.ops
               if isinstance(o, ops.Ssh) and o.argv[:2] == ("kubeadm", "init")]
    assert "--apiserver-cert-extra-sans=127.0.77.2" in init.argv


def test_the_fetched_kubeconfig_names_the_forwarder_before_it_is_written():
    from cephlab.k8s.plan_runner import point_kubeconfig

    text = ("apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: QQ==\n"
            "    server: https://10.254.1.2:6443\n  name: kubernetes\nkind: Config\n")
    out = point_kubeconfig(text, "https://127.0.77.2:6443")
    assert "10.254.1.2" not in out and "server: https://127.0.77.2:6443" in out
    with pytest.raises(Exception, match="names no cluster"):
        point_kubeconfig("apiVersion: v1\nkind: Config\n", "https://127.0.77.2:6443")
