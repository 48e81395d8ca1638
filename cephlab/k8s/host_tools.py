"""The programs the Kubernetes targets need on this host: what each is needed for and how to
install it. The pre-flight (:mod:`cephlab.k8s.preflight`) checks them before any work; plan
mode lists them in plan.md for whoever runs the plan by hand."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tool:
    program: str
    needed_for: str
    how: str


TOOLS = {
    "vagrant": Tool("vagrant", "creates the lab's VMs",
                    "install Vagrant 2.4.9 or newer (https://developer.hashicorp.com/vagrant/install; "
                    "Debian 12's apt package is 2.3.4, which knows no VirtualBox after 7.0)"),
    "VBoxManage": Tool("VBoxManage", "is VirtualBox, the default provider",
                       "install VirtualBox 7.0-7.2 (https://www.virtualbox.org/wiki/Linux_Downloads), "
                       "or use libvirt: LAB_PROVIDER=libvirt"),
    "virsh": Tool("virsh", "is libvirt, the other provider",
                  "apt-get install libvirt-daemon-system libvirt-clients vagrant-libvirt "
                  "(or `vagrant plugin install vagrant-libvirt`)"),
    "kubectl": Tool("kubectl", "applies the lab and reaches the Rook toolbox",
                    "install kubectl within one minor of the lab's Kubernetes "
                    "(https://kubernetes.io/docs/tasks/tools/)"),
    "helm": Tool("helm", "installs the Kubernetes Dashboard chart (stage dashboard)",
                 "install Helm 3 (https://helm.sh/docs/intro/install/)"),
    "curl": Tool("curl", "probes the NodePort services from this machine",
                 "apt-get install curl"),
}
