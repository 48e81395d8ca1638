@extend_storage @ceph
Feature: 11 extend_storage — the second disk of every node joins the cluster
  Device sdd is added on every node and the cluster definition is applied again.

  Scenario: extend_storage — six OSDs and about twice the raw capacity
    Given the lab has what stage extend_storage needs
    When stage extend_storage is applied
    Then the OSDs are up and in, 2 on each of k8s-1, k8s-2, k8s-3
    And the raw capacity is at least 1.8 times what it was before
    And the cluster is healthy
