"""The nightly workflow (GitHub Actions syntax), read as YAML: when it runs, what each job
runs, that the kind job's loop devices, kind nodes and cluster config agree, and that it does
what Rook on kind needs (host mounts, disk space, kernel modules, /sys read-write, OSDs pinned
to their node): removing any of these turns a test here red."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest
import yaml

from cephlab.k8s import cluster_config
from tests.conftest import ROOT

pytestmark = pytest.mark.standin

WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"
EXAMPLE = ROOT / "examples" / "cluster-kind.yaml"
KIND_CONFIG = ROOT / "examples" / "kind-cephlab.yaml"


@pytest.fixture(scope="module")
def flow():
    return yaml.safe_load(WORKFLOW.read_text())


def _runs(job) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def _step(job, pattern):
    found = [s for s in job["steps"] if re.search(pattern, s.get("run", "") + s.get("uses", ""))]
    assert found, f"no step matches {pattern!r}"
    return found[0]


def test_triggers(flow):
    on = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(on) == {"schedule", "workflow_dispatch"}
    cron = on["schedule"][0]["cron"].split()
    assert len(cron) == 5 and cron[2:] == ["*", "*", "*"], "runs every night"
    assert flow["permissions"] == {"contents": "read"}


def test_both_jobs_exist_with_timeouts(flow):
    assert set(flow["jobs"]) == {"local", "kind"}
    for job in flow["jobs"].values():
        assert job["runs-on"].startswith("ubuntu-")
        assert 0 < job["timeout-minutes"] <= 360


def test_local_job_runs_the_readme_commands(flow):
    runs = _runs(flow["jobs"]["local"])
    assert re.search(r"\bmake test\b.*--junitxml=reports/", runs)
    assert re.search(r"\bmake lab\b", runs) and "--cucumberjson=reports/cucumber.json" in runs


def test_kind_job_attaches_the_configured_loop_devices_before_the_cluster(flow):
    job = flow["jobs"]["kind"]
    loops = _step(job, r"losetup /dev/loop")
    create = _step(job, r"kind create cluster")
    assert job["steps"].index(loops) < job["steps"].index(create)
    numbers = re.search(r"for n in ([\d ]+);", loops["run"]).group(1).split()
    attached = {f"loop{n}" for n in numbers}
    configured = {d for n in cluster_config.load(EXAMPLE).nodes for d in n.devices}
    assert attached == configured


def test_kind_cluster_has_the_configured_workers(flow):
    kind = yaml.safe_load(KIND_CONFIG.read_text())
    assert "--config examples/kind-cephlab.yaml" in _step(flow["jobs"]["kind"], "kind create cluster")["run"]
    roles = [n["role"] for n in kind["nodes"]]
    assert roles.count("worker") == 3 and roles.count("control-plane") == 1
    # kind names workers <name>-worker, <name>-worker2, …
    names = [f"{kind['name']}-worker{'' if i == 1 else i}" for i in range(1, 4)]
    assert list(cluster_config.load(EXAMPLE).names) == names


def test_kind_job_runs_the_cluster_target(flow):
    job = flow["jobs"]["kind"]
    argv = shlex.split(_step(job, r"pytest features/")["run"])
    assert "--lab-target=cluster" in argv
    assert argv[argv.index("--kubeconfig") + 1] == "$KUBECONFIG_FILE"
    assert "--kubeconfig" in _step(job, "kind create cluster")["run"]
    assert argv[argv.index("--lab-cluster-config") + 1] == "examples/cluster-kind.yaml"
    assert "--lab-allow-destructive=yes" in argv
    assert argv[argv.index("--kube-context") + 1] == f"kind-{yaml.safe_load(KIND_CONFIG.read_text())['name']}"
    assert any(a.startswith("--junitxml=reports/") for a in argv)
    assert any(a.startswith("--cucumberjson=reports/") for a in argv)


@pytest.mark.parametrize("job_name", ["local", "kind"])
def test_reports_are_uploaded_whatever_the_outcome(flow, job_name):
    job = flow["jobs"][job_name]
    upload = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert len(upload) == 1
    assert upload[0]["if"] == "always()" and upload[0]["with"]["path"] == "reports/"
    assert job["steps"].index(upload[0]) >= len(job["steps"]) - 2


def test_kind_job_cleans_up(flow):
    last = flow["jobs"]["kind"]["steps"][-1]
    assert last["if"] == "always()"
    assert "kind delete cluster --name cephlab" in last["run"] and "losetup -d" in last["run"]


# ---------------------------------------------------------------------------- Rook on kind
# What Rook's own CI does to run Rook on kind (rook/rook v1.20.6: tests/config/kind-config.yaml,
# .github/workflows/integration-test-setup-cluster-resources/action.yaml,
# tests/scripts/github-action-helper.sh prepare_kind_node), and what three nodes add.

def _index(job, pattern) -> int:
    return job["steps"].index(_step(job, pattern))


def _workers(kind: dict) -> list[dict]:
    return [n for n in kind["nodes"] if n["role"] == "worker"]


@pytest.fixture(scope="module")
def kind_config():
    return yaml.safe_load(KIND_CONFIG.read_text())


@pytest.mark.parametrize("path", ["/dev", "/run/udev"])
def test_every_worker_mounts_the_hosts(kind_config, path):
    """/dev: the loop devices; /run/udev: ceph-volume's udev data (kind runs no udevd)."""
    for node in _workers(kind_config):
        mounts = {m["containerPath"]: m for m in node.get("extraMounts", [])}
        assert path in mounts, f"a worker does not mount {path}"
        assert mounts[path]["hostPath"] == path and mounts[path].get("propagation") == "HostToContainer"


#: kind v0.30.0's v1alpha4 fields (pkg/apis/config/v1alpha4/types.go), which kind decodes
#: strictly (pkg/internal/apis/config/encoding/load.go): an unknown key fails `kind create`
KIND_NODE_KEYS = {"role", "image", "labels", "extraMounts", "extraPortMappings",
                  "kubeadmConfigPatches", "kubeadmConfigPatchesJSON6902"}
KIND_MOUNT_KEYS = {"containerPath", "hostPath", "readOnly", "selinuxRelabel", "propagation"}
KIND_PROPAGATION = {"None", "HostToContainer", "Bidirectional"}


def test_kind_config_uses_only_kinds_own_fields(flow, kind_config):
    assert kind_config["apiVersion"] == "kind.x-k8s.io/v1alpha4" and kind_config["kind"] == "Cluster"
    assert flow["jobs"]["kind"]["env"]["KIND_VERSION"] == "v0.30.0", "fields read at this version"
    for node in kind_config["nodes"]:
        assert set(node) <= KIND_NODE_KEYS, set(node) - KIND_NODE_KEYS
        assert node["role"] in ("control-plane", "worker")
        for mount in node.get("extraMounts", []):
            assert set(mount) <= KIND_MOUNT_KEYS, set(mount) - KIND_MOUNT_KEYS
            assert mount.get("propagation", "None") in KIND_PROPAGATION
            assert mount["hostPath"].startswith("/") and mount["containerPath"].startswith("/")


def test_every_worker_has_its_own_rook_data_dir(flow, kind_config):
    host_dirs = []
    for node in _workers(kind_config):
        (mount,) = [m for m in node.get("extraMounts", []) if m["containerPath"] == "/var/lib/rook"]
        host_dirs.append(mount["hostPath"])
    assert len(set(host_dirs)) == 3, "workers sharing one /var/lib/rook share mon stores"
    job = flow["jobs"]["kind"]
    made = _step(job, r"mkdir -p \"\$NODE_DIRS/worker")
    assert job["steps"].index(made) < _index(job, "kind create cluster")
    root = job["env"]["NODE_DIRS"]
    assert host_dirs == [f"{root}/worker{w}/rook" for w in (1, 2, 3)]


def test_disk_space_is_freed_and_checked_before_anything_is_written(flow):
    job = flow["jobs"]["kind"]
    step = _step(job, r"rm -rf /usr/local/lib/android")
    assert "/opt/hostedtoolcache" in step["run"] and "/usr/share/dotnet" in step["run"]
    assert job["steps"].index(step) < _index(job, r"losetup /dev/loop") < _index(job, "kind create cluster")
    assert "docker image prune" in step["run"]
    assert re.search(r"-lt 40 \]", step["run"]) and "exit 1" in step["run"], "free space is required, not hoped for"


def test_rbd_and_ceph_modules_are_loaded_on_the_runner(flow):
    job = flow["jobs"]["kind"]
    step = _step(job, r"modprobe rbd")
    run = step["run"]
    assert "modprobe ceph" in run and 'linux-modules-extra-$(uname -r)' in run
    assert "test -d /sys/module/rbd && test -d /sys/module/ceph" in run
    assert job["steps"].index(step) < _index(job, r"pytest features/")


def test_sys_is_remounted_read_write_on_every_node_and_checked(flow):
    job = flow["jobs"]["kind"]
    step = _step(job, r"remount,rw /sys")
    assert _index(job, "kind create cluster") < job["steps"].index(step) < _index(job, r"pytest features/")
    assert "for node in $(kind get nodes --name cephlab)" in step["run"]
    assert 'docker exec "$node" mount -o remount,rw /sys' in step["run"]
    assert "|| " not in step["run"], "a node whose /sys stays read-only must stop the job"


def _sys_check(flow) -> str:
    run = _step(flow["jobs"]["kind"], r"remount,rw /sys")["run"]
    return re.search(r"awk '([^']+)' /proc/mounts", run).group(1)


@pytest.mark.parametrize("mounts,ok", [
    ("sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n", True),
    ("sysfs /sys sysfs ro,nosuid,nodev,noexec,relatime 0 0\n", False),
    ("proc /proc proc rw 0 0\n", False),
])
def test_the_sys_check_tells_rw_from_ro(flow, tmp_path, mounts, ok):
    sample = tmp_path / "mounts"
    sample.write_text(mounts)
    res = subprocess.run(["awk", _sys_check(flow), str(sample)])
    assert (res.returncode == 0) == ok


def test_osds_stay_on_their_node(flow):
    """Loop devices are the host's, seen by every node: each node gets its own pair, and the
    example config pins each device to its node through a local volume (osd_layout local-pvs)."""
    conf = cluster_config.load(EXAMPLE)
    assert conf.osd_layout == "local-pvs"
    vols = conf.osd_volumes()
    assert len({v.path for v in vols}) == 6
    for vol, pv in zip(vols, conf.local_osd_objects()[1:], strict=True):
        terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
        assert terms == [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In",
                                                "values": [vol.node]}]}]
        assert pv["spec"]["local"]["path"] == vol.path
    loops = _step(flow["jobs"]["kind"], r"losetup /dev/loop")["run"]
    size = re.search(r"truncate -s (\d+)G ", loops).group(1)
    assert f"{size}Gi" == conf.osd_volume_size, "each loop image is as large as its volume says"


def test_every_run_step_passes_shellcheck(flow):
    """GitHub runs `run:` with bash -e -o pipefail; shellcheck reads each step as that script
    (expressions ${{ … }} replaced by a word)."""
    import shutil
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    found = []
    for name, job in flow["jobs"].items():
        for step in job["steps"]:
            if "run" not in step:
                continue
            script = "set -eo pipefail\n" + re.sub(r"\$\{\{[^}]*\}\}", "X", step["run"])
            res = subprocess.run(["shellcheck", "-s", "bash", "-"], input=script,
                                 capture_output=True, text=True)
            if res.returncode:
                found.append(f"{name} / {step.get('name', step['run'][:40])}:\n{res.stdout}")
    assert not found, "\n".join(found)
