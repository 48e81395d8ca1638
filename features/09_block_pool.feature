@block_pool @ceph
Feature: 09 block_pool — a replicated pool for block storage
  Pool replicapool, replicated with size 2 across hosts, and the storage class
  rook-ceph-block on top of it where there is Kubernetes.

  Scenario: block_pool — replicapool with size 2 serves block images
    Given the lab has what stage block_pool needs
    When stage block_pool is applied
    Then pool replicapool is replicated with size 2
    And pool replicapool serves rbd
    When a block image of 64 MiB is created in replicapool and resized to 128 MiB
    Then the image is listed in replicapool with 128 MiB
    When the image is removed
    Then it is no longer listed in replicapool
    And the cluster is healthy
