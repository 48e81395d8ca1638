"""What the Kubernetes packages would have put on a node, for the node containers.

On the VMs, the Vagrantfile installs kubelet, kubeadm and kubectl from pkgs.k8s.io: the
programs, the ``kubelet.service`` unit with kubeadm's drop-in, and the CNI plugins under
/opt/cni/bin. The node containers get the same things from the programs built here
(``setup --kube``), which every node sees read-only at their cache path: links in
/usr/local/bin and /opt/cni/bin, and the two units written as the packages lay them out
(facts of the kubelet and kubeadm packages: ``ExecStart`` with the four argument
variables, ``EnvironmentFile`` of kubeadm's flags and of /etc/default/kubelet,
``Restart=always``).

Two containerd settings differ from the VMs, for reasons only these nodes have:

- no registry can be reached, so containerd's sandbox (pause) image is the one kubeadm pins
  and the node holds, not containerd's own default (pause:3.6 in 1.6), which it would pull;
- the nodes run as this machine's root without CAP_SYS_RESOURCE (the sandbox does not grant
  it), so no process may lower its OOM score: ``restrict_oom_score_adj`` keeps containerd
  from asking runc for the -998 it gives every pod's sandbox, which runc could not set.
"""

from __future__ import annotations

from pathlib import Path

from .. import versions
from . import podnet

#: Programs linked into /usr/local/bin of every node.
PROGRAMS = ("kubeadm", "kubelet", "kubectl", "crictl")
PAUSE_IMAGE = f"registry.k8s.io/pause:{versions.PAUSE}"

KUBELET_UNIT = """[Unit]
Description=kubelet: the Kubernetes node agent
Wants=network-online.target containerd.service
After=network-online.target containerd.service

[Service]
ExecStart=/usr/local/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=2

[Install]
WantedBy=multi-user.target
"""
KUBEADM_DROPIN = """[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""
CRICTL = "runtime-endpoint: unix:///run/containerd/containerd.sock\n"


def packages_script(bin_dir: Path) -> str:
    """Run in a node before the Vagrantfile's provisioning: the programs, CNI plugins and
    units the packages would have installed."""
    links = "\n".join(f"ln -sfn {bin_dir}/{p} /usr/local/bin/{p}" for p in PROGRAMS)
    plugins = "\n".join(f"ln -sfn {bin_dir}/{p} /opt/cni/bin/{p}" for p in podnet.PLUGINS)
    return f"""set -eu
for p in {' '.join(PROGRAMS + podnet.PLUGINS)}; do
  test -x {bin_dir}/$p || {{ echo "{bin_dir}/$p is missing in the node (setup --kube builds it)"; exit 1; }}
done
{links}
mkdir -p /opt/cni/bin /etc/cni/net.d /etc/systemd/system/kubelet.service.d
{plugins}
cat > /etc/systemd/system/kubelet.service <<'EOF'
{KUBELET_UNIT}EOF
cat > /etc/systemd/system/kubelet.service.d/10-kubeadm.conf <<'EOF'
{KUBEADM_DROPIN}EOF
cat > /etc/crictl.yaml <<'EOF'
{CRICTL}EOF
systemctl daemon-reload
"""


#: containerd (config version 2) settings the nodes need, each for the reason above.
CONTAINERD_SETTINGS = {"sandbox_image": f'"{PAUSE_IMAGE}"', "restrict_oom_score_adj": "true"}


def containerd_script() -> str:
    """Run in a node after the Vagrantfile's containerd part: the two settings above, each
    line rewritten where containerd's default config has it, then read back from what
    containerd loads."""
    edits = "\n".join(
        f"grep -Eq '^[[:space:]]*{k}[[:space:]]*=' \"$conf\" || {{ echo \"no {k} in $conf\" >&2; exit 1; }}\n"
        f"sed -i -E 's|^([[:space:]]*{k}[[:space:]]*=).*|\\1 {v}|' \"$conf\""
        for k, v in CONTAINERD_SETTINGS.items())
    checks = "\n".join(
        f"containerd --config \"$conf\" config dump | grep -Fq '{k} = {v}' || "
        f"{{ echo 'containerd does not load {k} = {v}' >&2; exit 1; }}"
        for k, v in CONTAINERD_SETTINGS.items())
    return f"""set -eu
conf="${{CONTAINERD_CONFIG:-/etc/containerd/config.toml}}"
if grep -Eq '^version = 3' "$conf"; then
  echo "containerd 2 (config version 3) in a node is not handled yet: the node root has 1.x" >&2; exit 1
fi
{edits}
systemctl restart containerd
{checks}
"""
