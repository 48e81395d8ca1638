@cni @k8s
Feature: 03 cni — the Calico pod network
  Calico for 192.168.0.0/16, using the private interface.

  Scenario: cni — every node Ready on its private address
    Given the lab has what stage cni needs
    When stage cni is applied
    Then the nodes k8s-1, k8s-2 and k8s-3 are Ready
    And each node's InternalIP is its 10.254.1.x address

  @pods
  Scenario: cni — pods on different nodes reach each other
    Given the lab has what stage cni needs
    When pods are pinned to k8s-2 and k8s-3
    Then the pinned pods reach each other at their pod addresses
