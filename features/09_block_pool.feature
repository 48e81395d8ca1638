@block_pool @ceph
Feature: 09 block_pool — a replicated pool for block storage
  Pool replicapool, replicated with size 2 across hosts, and the storage class
  rook-ceph-block on top of it where there is Kubernetes.

  Scenario: block_pool — replicapool with size 2 serves block images
    Given the lab has what stage block_pool needs
    When stage block_pool is applied
    Then pool replicapool is replicated with size 2
    And pool replicapool serves rbd
    And a block image can be created, resized and removed in replicapool
    And the cluster is healthy
