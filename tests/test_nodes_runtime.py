"""The node containers' runtime (cephlab/nodes/noderoot.py, netns.py, node.py): the address
plan, names, `ip` command lines, runc's config, the sdc/sdd mapping, the root's cache
decision and the teardown's order and reach, all without root. The last test is real
(root, runc, the node root built or buildable): one node container boots systemd, its
containerd answers, its disks and address are there, the forwarder reaches it, and
destroying it leaves nothing."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from cephlab.nodes import netns, node, noderoot
from conftest import loopback_prefix

pytestmark = pytest.mark.standin

NODES = ("k8s-1", "k8s-2", "k8s-3")
ROOT = Path("/var/cache/cephlab/roots/node-bookworm-000000000000")


def records(tmp_path: Path, attached: bool = True) -> dict:
    recs = node.plan(tmp_path / "lab", NODES, ROOT)
    for i, rec in enumerate(recs["nodes"].values()):
        for j, disk in enumerate(rec["disks"].values()):
            n = 10 + 2 * i + j
            if attached:
                disk.update(loop=f"/dev/loop{n}", major=7, minor=n)
    return recs


# ------------------------------------------------------------------------ addresses and names
def test_the_address_plan_is_the_vagrant_labs():
    assert netns.address_plan(NODES) == {"k8s-1": "10.254.1.2", "k8s-2": "10.254.1.3",
                                         "k8s-3": "10.254.1.4"}
    hosts = netns.hosts_file(netns.address_plan(NODES))
    assert "10.254.1.2\tk8s-1\n" in hosts and "10.254.1.4\tk8s-3\n" in hosts
    assert hosts.startswith("127.0.0.1\tlocalhost")
    with pytest.raises(ValueError):
        netns.node_address(252)


def test_names_carry_the_lab_and_interface_names_fit_the_kernel(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert netns.lab_netns(a) == netns.lab_netns(a) != netns.lab_netns(b)
    assert netns.lab_netns(a).startswith("cephlab-")
    assert netns.node_netns(a, "k8s-1") == f"{netns.lab_netns(a)}-k8s-1"
    assert node.container_id(a, "k8s-2") == netns.node_netns(a, "k8s-2")
    for name in NODES:
        assert len(netns.veth(name)) <= netns.IFNAMSIZ
    assert len(netns.BRIDGE) <= netns.IFNAMSIZ and len(netns.NODE_IF) <= netns.IFNAMSIZ
    with pytest.raises(ValueError):
        netns.veth("a-node-with-a-long-name")


def test_every_ip_command_names_a_namespace_of_the_lab():
    lab, ns = "cephlab-0123abcd", "cephlab-0123abcd-k8s-1"
    lab_cmds, node_cmds = netns.lab_argvs(lab), netns.node_argvs(lab, ns, "k8s-1", "10.254.1.2")
    for argv in lab_cmds + node_cmds:
        assert argv[0] == "ip"
        assert argv[1:3] in (["netns", "add"], ["netns", "exec"]) or argv[1] == "-n", argv
        assert argv[2] in (lab, ns) or argv[3] in (lab, ns), argv
    assert lab_cmds[0] == ["ip", "netns", "add", lab]
    assert ["ip", "-n", lab, "addr", "add", "10.254.1.1/24", "dev", "br-lab"] in lab_cmds
    assert "net.bridge.bridge-nf-call-iptables=1" in lab_cmds[-1]
    assert node_cmds[0] == ["ip", "netns", "add", ns]
    assert ["ip", "-n", lab, "link", "add", "v-k8s-1", "type", "veth", "peer", "name", "eth0",
            "netns", ns] in node_cmds
    assert ["ip", "-n", lab, "link", "set", "v-k8s-1", "master", "br-lab"] in node_cmds
    assert ["ip", "-n", ns, "addr", "add", "10.254.1.2/24", "dev", "eth0"] in node_cmds
    assert ["ip", "-n", ns, "route", "add", "default", "via", "10.254.1.1"] in node_cmds
    assert ["ip", "-n", ns, "link", "set", "lo", "up"] in node_cmds
    assert "net.ipv4.ip_forward=1" in node_cmds[-1] and node_cmds[-1][3] == ns
    assert netns.delete_argvs([ns, lab]) == [["ip", "netns", "delete", ns],
                                             ["ip", "netns", "delete", lab]]


def test_the_forwarder_pairs_and_command_line():
    pairs = netns.forward_pairs({"k8s-1": "127.0.40.2", "k8s-2": "127.0.40.3"},
                                netns.address_plan(NODES), (6443, 30000))
    assert pairs[("127.0.40.2", 6443)] == ("10.254.1.2", 6443)
    assert pairs[("127.0.40.3", 30000)] == ("10.254.1.3", 30000)
    assert len(pairs) == 4
    argv = netns.forwarder_argv("cephlab-x", pairs, python="python3")
    assert argv[:5] == ["python3", "-m", "cephlab.nodes.netns", "forward", "cephlab-x"]
    assert dict(netns.parse_pair(a) for a in argv[5:]) == pairs
    with pytest.raises(ValueError):
        netns.parse_pair("127.0.0.1:80")


# ------------------------------------------------------------------------ runc's config
def test_the_container_is_privileged_with_its_own_namespaces(tmp_path):
    recs = records(tmp_path)
    rec = recs["nodes"]["k8s-1"]
    cfg = node.runc_config(rec, "k8s-1", [Path("/var/cache/cephlab/images")])
    proc, linux = cfg["process"], cfg["linux"]
    assert proc["args"] == [node.INIT] and "container=docker" in proc["env"]
    assert all(proc["capabilities"][s] == list(node.CAPABILITIES)
               for s in ("bounding", "effective", "permitted"))
    assert not proc["noNewPrivileges"]
    assert "seccomp" not in linux and "apparmorProfile" not in proc
    assert not linux.get("maskedPaths") and not linux.get("readonlyPaths")
    assert linux["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    kinds = {ns["type"]: ns.get("path") for ns in linux["namespaces"]}
    assert set(kinds) == {"pid", "ipc", "uts", "mount", "cgroup", "network"}
    assert kinds["network"] == f"/run/netns/{rec['netns']}"
    assert not linux["cgroupsPath"].startswith("/"), "nested below whoever starts runc"
    assert cfg["hostname"] == "k8s-1" and cfg["root"] == {"path": rec["rootfs"], "readonly": False}


def test_the_mounts_give_systemd_and_containerd_what_they_need(tmp_path):
    rec = records(tmp_path)["nodes"]["k8s-2"]
    mounts = {m["destination"]: m for m in
              node.runc_config(rec, "k8s-2", [Path("/srv/images")])["mounts"]}
    assert mounts["/sys"]["type"] == "sysfs" and "rw" in mounts["/sys"]["options"]
    assert mounts["/sys/fs/cgroup"]["type"] == "cgroup" and "rw" in mounts["/sys/fs/cgroup"]["options"]
    assert mounts["/dev"]["type"] == "tmpfs" and mounts["/run"]["type"] == "tmpfs"
    assert mounts["/dev/pts"]["type"] == "devpts" and "newinstance" in mounts["/dev/pts"]["options"]
    ctrd = mounts["/var/lib/containerd"]
    assert ctrd["type"] == "bind" and ctrd["source"] == rec["containerd"]
    assert not ctrd["source"].startswith(rec["rootfs"]), "containerd's dir is not on the overlay"
    assert mounts["/srv/images"]["source"] == "/srv/images" and "ro" in mounts["/srv/images"]["options"]


def test_dev_holds_only_the_listed_devices_and_the_nodes_disks(tmp_path):
    rec = records(tmp_path)["nodes"]["k8s-2"]
    devs = {d["path"]: d for d in node.runc_config(rec, "k8s-2")["linux"]["devices"]}
    expected = {f"/dev/{name}" for name, *_ in node.DEVICES} | {
        "/dev/loop12", "/dev/loop13", "/dev/sdc", "/dev/sdd"}
    assert set(devs) == expected
    assert (devs["/dev/sdc"]["type"], devs["/dev/sdc"]["major"], devs["/dev/sdc"]["minor"]) == ("b", 7, 12)
    assert (devs["/dev/sdd"]["major"], devs["/dev/sdd"]["minor"]) == (7, 13)
    assert devs["/dev/loop12"]["minor"] == devs["/dev/sdc"]["minor"]
    assert (devs["/dev/console"]["major"], devs["/dev/console"]["minor"]) == (1, 3), \
        "the console is a null device, not this machine's console"
    with pytest.raises(Exception, match="not attached"):
        node.runc_config(records(tmp_path, attached=False)["nodes"]["k8s-1"], "k8s-1")


def test_the_disk_mapping_names_each_nodes_loops(tmp_path):
    assert node.devices(records(tmp_path)) == {
        "k8s-1": {"sdc": "loop10", "sdd": "loop11"}, "k8s-2": {"sdc": "loop12", "sdd": "loop13"},
        "k8s-3": {"sdc": "loop14", "sdd": "loop15"}}
    assert node.devices(records(tmp_path, attached=False)) == {n: {} for n in NODES}


def test_only_the_capabilities_held_are_given():
    status = "Name:\tx\nCapBnd:\t000001fffeffffff\n"  # this sandbox: no CAP_SYS_RESOURCE
    held = node.held_capabilities(status)
    assert "CAP_SYS_RESOURCE" not in held and "CAP_SYS_ADMIN" in held
    assert len(held) == len(node.CAPABILITIES) - 1
    assert node.held_capabilities("CapBnd:\t000001ffffffffff\n") == node.CAPABILITIES


def test_the_init_script_guards_the_kernel_and_becomes_systemd():
    script = node.init_script()
    assert script.rstrip().endswith('exec /sbin/init "$@"')
    assert "mount -o remount,bind,ro /proc/sys" in script
    assert "mount -o remount,bind,rw /proc/sys/net" in script
    assert "kernel/panic_on_oops" in script and "mount --make-rshared /" in script
    assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0


def test_the_records_are_json_and_name_only_the_labs_paths(tmp_path):
    recs = records(tmp_path)
    assert json.loads(json.dumps(recs)) == recs
    lab = str((tmp_path / "lab").resolve())
    for rec in recs["nodes"].values():
        for key in ("dir", "rootfs", "upper", "work", "containerd", "bundle", "log"):
            assert rec[key].startswith(lab + "/nodes/")
        assert all(d["file"].startswith(rec["dir"]) for d in rec["disks"].values())
    assert recs["runc_root"] == f"{lab}/nodes/runc"


# ------------------------------------------------------------------------ the node root
def test_the_node_roots_cache_decision():
    want = noderoot.wanted()
    good = {**want, "complete": True,
            "installed": {p: "1" for p in want["packages"]} | {"systemd": "252", "containerd": "1.6"}}
    assert noderoot.cache_decision(good, want)[0]
    for doc, why in [(None, "no cached root"), ({**good, "complete": False}, "never finished"),
                     ({**good, "packages": ["systemd"]}, "packages changed"),
                     ({**good, "masked": []}, "masked changed"),
                     ({**good, "builder": 0}, "builder changed"),
                     ({**good, "installed": {"systemd": "252"}}, "not installed")]:
        reuse, reason = noderoot.cache_decision(doc, want)
        assert not reuse and why in reason


def test_the_node_root_is_bookworm_with_kubeadms_tools(tmp_path):
    assert noderoot.SUITE == "bookworm", "systemd 252 boots on cgroup v1; 256+ refuses"
    for pkg in ("systemd", "containerd", "runc", "conntrack", "iptables", "ebtables", "ethtool",
                "socat", "iproute2", "util-linux", "mount", "lvm2", "gdisk", "udev", "kmod"):
        assert pkg in noderoot.PACKAGES
    assert "systemd-udevd.service" in noderoot.MASKED and "systemd-sysctl.service" in noderoot.MASKED
    path = noderoot.root_path(tmp_path)
    assert path.parent == tmp_path and path.name.startswith("node-bookworm-")


def test_backports_and_stale_roots(tmp_path):
    mirror = "http://deb.debian.org/debian"
    madison = (f" containerd | 1.7.24~ds1-1~bpo12+1 | {mirror} bookworm-backports/main amd64 Packages\n"
               f" containerd | 1.6.20~ds1-1+deb12u3 | {mirror} bookworm/main amd64 Packages\n")
    assert noderoot.newer_in_backports(madison) == "1.7.24~ds1-1~bpo12+1"
    assert noderoot.newer_in_backports(madison.splitlines()[1]) is None
    current, used, unused = (tmp_path / f"node-bookworm-{x}" for x in ("aaa", "bbb", "ccc"))
    for p in (current, used, unused):
        p.mkdir()
    info = (f"90 27 0:77 / /lab/nodes/k8s-1/rootfs rw - overlay overlay "
            f"rw,lowerdir={used},upperdir=/lab/u,workdir=/lab/w\n")
    assert noderoot.stale_roots(current, info) == [unused]


def test_packaged_kernel_wide_sysctls_are_masked_in_the_root(tmp_path):
    lib = tmp_path / "usr/lib/sysctl.d"
    lib.mkdir(parents=True)
    (lib / "50-pid-max.conf").write_text("# systemd\nkernel.pid_max = 4194304\n")
    (lib / "99-protect-links.conf").write_text("fs.protected_fifos = 1\n-fs/protected_regular=2\n")
    (lib / "60-net.conf").write_text("net.ipv4.ip_forward = 1\n; net.core.x = 1\n")
    assert noderoot.kernel_wide_keys((lib / "99-protect-links.conf").read_text()) == [
        "fs.protected_fifos", "fs.protected_regular"]
    assert noderoot.mask_kernel_sysctl(tmp_path) == ["50-pid-max.conf", "99-protect-links.conf"]
    assert os.readlink(tmp_path / "etc/sysctl.d/50-pid-max.conf") == "/dev/null"
    assert not (tmp_path / "etc/sysctl.d/60-net.conf").exists()


# ------------------------------------------------------------------------ teardown
def test_teardown_goes_from_processes_to_files_in_order(tmp_path):
    recs = records(tmp_path)
    recs["forwarder"] = {"name": "fwd", "pid": 4242, "starttime": 1, "argv": [], "log": ""}
    for rec in recs["nodes"].values():
        rec["mounts"] = [rec["rootfs"]]
        rec["cgroups"] = {"/sys/fs/cgroup/memory": f"/harness/{rec['cgroup']}"}
    steps = node.teardown_plan(recs)
    kinds = [k for k, _ in steps]
    order = ["process", "container", "mount", "loop", "netns", "cgroup", "dir"]
    assert kinds == sorted(kinds, key=order.index), kinds
    nets = [w for k, w in steps if k == "netns"]
    assert nets[-1] == recs["netns"] and len(nets) == 4, "the lab's namespace goes last"
    cgroups = [w for k, w in steps if k == "cgroup"]
    assert cgroups[-1] == f"/sys/fs/cgroup/memory/harness/{recs['cgroup_parent']}"
    assert [w for k, w in steps if k == "dir"][-1] == recs["runc_root"]


def test_destroy_touches_only_what_the_records_name(tmp_path, monkeypatch):
    import cephlab.procs

    recs = records(tmp_path)
    recs["forwarder"] = {"name": "fwd", "pid": 4242, "starttime": 1, "argv": [], "log": ""}
    for rec in recs["nodes"].values():
        rec["mounts"] = [rec["rootfs"]]
        Path(rec["dir"]).mkdir(parents=True)
    ours = {d["file"]: d["loop"] for r in recs["nodes"].values() for d in r["disks"].values()}
    attached = dict(ours)
    # a loop device that once was ours and now serves somebody else's file
    first = recs["nodes"]["k8s-1"]["disks"]["sdc"]
    backing = {loop: file for file, loop in ours.items()} | {first["loop"]: "/elsewhere.img"}
    done: list[tuple[str, str]] = []
    mounted = {m for r in recs["nodes"].values() for m in r["mounts"]}
    gone: set[str] = set()

    monkeypatch.setattr(cephlab.procs, "stop", lambda rec, timeout=0: done.append(("process", str(rec.pid))))
    monkeypatch.setattr(node, "is_running", lambda r, n: True)
    monkeypatch.setattr(node, "runc_state", lambda r, n: None)
    monkeypatch.setattr(node, "stop", lambda r, n: done.append(("container", n)) or False)
    monkeypatch.setattr(node.mounts, "is_mounted", lambda p: str(p) in mounted)
    monkeypatch.setattr(node.mounts, "unmount", lambda p: done.append(("mount", str(p))) or
                        mounted.discard(str(p)) or "clean")
    monkeypatch.setattr(node.mounts, "mounts_under", lambda p: [])
    monkeypatch.setattr(node, "loops_of", lambda f: [attached[f]] if f in attached else [])
    monkeypatch.setattr(node, "backing_file", lambda loop: backing.get(loop))

    def run(argv, **kw):
        assert argv[:2] == ["losetup", "-d"], argv
        done.append(("loop", argv[2]))
        attached.pop(next(f for f, l in attached.items() if l == argv[2]))
        return subprocess.CompletedProcess(argv, 0)
    monkeypatch.setattr(node.subprocess, "run", run)
    monkeypatch.setattr(netns, "exists", lambda ns: ns not in gone)
    monkeypatch.setattr(netns, "delete", lambda names: [gone.add(n) or n for n in names])
    monkeypatch.setattr(node, "_rmdir_cgroup", lambda p: done.append(("cgroup", str(p))) or True)

    with pytest.raises(Exception, match=f"{first['file']} is still attached.*is kept"):
        node.destroy(recs)
    assert ("loop", first["loop"]) not in done, "a loop now serving another file stays"
    assert ("process", "4242") in done
    assert {w for k, w in done if k == "container"} == set(NODES)
    assert {w for k, w in done if k == "mount"} == {r["rootfs"] for r in recs["nodes"].values()}
    assert {w for k, w in done if k == "loop"} == set(ours.values()) - {first["loop"]}
    assert gone == {r["netns"] for r in recs["nodes"].values()} | {recs["netns"]}
    kept = {n for n, r in recs["nodes"].items() if Path(r["dir"]).exists()}
    assert kept == {"k8s-1"}, "a node's directory stays while a loop holds one of its files"


def test_the_exec_program_enters_this_labs_containers(tmp_path):
    recs = records(tmp_path)
    ns = node.NodeSet(tmp_path / "lab", NODES, {}, (), shared=())
    ns._write_exec(recs)
    text = (tmp_path / "lab" / "bin" / "node-exec").read_text()
    assert f"runc --root '{recs['runc_root']}' exec '{recs['netns']}-'\"$node\"" in text
    assert os.access(tmp_path / "lab" / "bin" / "node-exec", os.X_OK)


# ------------------------------------------------------------------------ a real node (root)
def _usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (namespaces, loop devices, mounts, runc)"
    if not shutil.which("runc"):
        return "runc is not installed (apt-get install runc)"
    if noderoot.cache_decision(noderoot.rootfs.read_manifest(noderoot.root_path()),
                               noderoot.wanted())[0]:
        return None
    if not shutil.which("debootstrap"):
        return "the node root is not built and debootstrap is missing"
    problem = noderoot.rootfs._unreachable(noderoot.rootfs.host_mirror())
    return f"the node root is not built and Debian's archive is unreachable: {problem}" if problem else None


@pytest.mark.skipif(_usable() is not None, reason=str(_usable()))
def test_REAL_one_node_container_boots_and_destroy_leaves_nothing(tmp_path):
    """Real: builds the node root when it is not cached (about a minute), starts k8s-1."""
    lab = tmp_path / "lab"
    listen = f"{loopback_prefix('nodes-forward')}.2"
    nodes = node.NodeSet(lab, ("k8s-1",), {"k8s-1": listen}, (30000,), shared=())
    records = None
    try:
        nodes.create_and_start(say=lambda _: None)
        records = nodes.records
        run = lambda line: nodes.run("k8s-1", ["sh", "-c", line], timeout=60)  # noqa: E731
        assert run("hostname").strip() == "k8s-1"
        assert "inet 10.254.1.2/24" in run("ip -4 addr show eth0")
        state = nodes.exec("k8s-1", ["systemctl", "is-system-running", "--wait"], timeout=120)
        assert state.stdout.strip() in ("running", "degraded"), state
        assert "Server:" in run("ctr version")
        loop = records["nodes"]["k8s-1"]["disks"]["sdc"]["loop"]
        assert run(f"test -b /dev/sdc && test -b {loop} && stat -c %t:%T /dev/sdc {loop}"
                   ).split() == [f"{7:x}:{int(loop[9:]):x}"] * 2
        assert "10.254.1.2\tk8s-1" in run("cat /etc/hosts")
        # kubelet's kernel-wide sysctls: written in the node, this machine's stay
        host = Path("/proc/sys/kernel/panic_on_oops").read_text()
        assert run("echo 7 >/proc/sys/kernel/panic_on_oops; cat /proc/sys/kernel/panic_on_oops"
                   ).strip() == "7"
        assert Path("/proc/sys/kernel/panic_on_oops").read_text() == host
        # the forwarder: this machine's loopback -> the node's port, through the lab's namespace
        run("nohup socat TCP-LISTEN:30000,fork,reuseaddr SYSTEM:'echo hello-from-$(hostname)' "
            ">/dev/null 2>&1 &")
        deadline, got = time.monotonic() + 10, b""
        while time.monotonic() < deadline and not got:
            with socket.create_connection((listen, 30000), timeout=5) as sock:
                got = sock.recv(100)
            time.sleep(0.1)
        assert got == b"hello-from-k8s-1\n"
    finally:
        if records is None and node.load(lab) is not None:
            records = node.load(lab)
        removed = nodes.destroy()
    assert records is not None and any(r.startswith("container k8s-1") for r in removed)
    assert node.leftovers(records) == []
    assert not netns.exists(records["netns"]) and not netns.exists(records["nodes"]["k8s-1"]["netns"])
    assert not [m for m in Path("/proc/self/mountinfo").read_text().splitlines() if str(lab) in m]
    disks = [d["file"] for d in records["nodes"]["k8s-1"]["disks"].values()]
    assert subprocess.run(["losetup", "-j", disks[0]], capture_output=True, text=True).stdout == ""
    for pid in (records["nodes"]["k8s-1"]["pid"], records["forwarder"] and records["forwarder"]["pid"]):
        if pid:
            state = Path(f"/proc/{pid}/stat")
            assert not state.exists() or state.read_text().split(") ")[1][0] in "ZX"
    assert not (lab / "nodes").exists()
