@vms @k8s
Feature: 01 vms — three virtual machines for the lab
  The lab starts from three VMs made by the Vagrantfile, each with a container runtime,
  kubelet, kubeadm, kubectl, time sync and two empty extra disks.

  Scenario: vms — three nodes with their private addresses and empty disks
    Given the lab has what stage vms needs
    When stage vms is applied
    Then the machines k8s-1, k8s-2 and k8s-3 are running
    And each machine has its private address 10.254.1.2, 10.254.1.3 and 10.254.1.4
    And each machine has empty disks sdc and sdd
