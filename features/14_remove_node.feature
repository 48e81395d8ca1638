@remove_node @ceph @destructive @data
Feature: 14 remove_node — k8s-1 leaves the storage cluster without data loss
  k8s-1's OSDs are taken out safely: marked out, drained until safe to destroy, stopped,
  purged, and the CRUSH host removed; its disks are wiped.

  Scenario: remove_node — four OSDs remain on k8s-2 and k8s-3 and nothing is lost
    Given the lab has what stage remove_node needs
    And objects, a block image and files are written before remove_node
    When stage remove_node is applied
    Then the OSDs are up and in, 2 on each of k8s-2, k8s-3
    And host k8s-1 holds no OSD
    And everything written before remove_node reads back byte-identical
    And the cluster is healthy
