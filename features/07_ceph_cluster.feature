@ceph_cluster @ceph
Feature: 07 ceph_cluster — a Ceph cluster on the first disk of every node
  The lab's CephCluster uses no node and no device by default and names them instead:
  nodes k8s-1, k8s-2 and k8s-3, each with the BlueStore device sdc.

  Scenario: ceph_cluster — three mons in quorum, one mgr, one OSD per node
    Given the lab has what stage ceph_cluster needs
    When stage ceph_cluster is applied
    Then 3 mons are in quorum
    And one mgr is active
    And the OSDs are up and in, 1 on each of k8s-1, k8s-2, k8s-3
    And the cluster is healthy
