@shared_filesystem @ceph
Feature: 10 shared_filesystem — CephFS k8s-fs with an active and a standby MDS
  Filesystem k8s-fs: metadata pool and one data pool, both of size 2 (the data pool's
  failure domain is the OSD), one active MDS and an active standby.

  Scenario: shared_filesystem — pools, rank 0 active and a standby-replay daemon
    Given the lab has what stage shared_filesystem needs
    When stage shared_filesystem is applied
    Then filesystem k8s-fs uses k8s-fs-metadata for metadata and k8s-fs-data0 for data
    And pools k8s-fs-metadata and k8s-fs-data0 have size 2
    And MDS rank 0 is active with one standby-replay daemon
    And the cluster is healthy

  Scenario: shared_filesystem — two independent mounts share directories and files
    Given the lab has what stage shared_filesystem needs
    When stage shared_filesystem is applied
    And directories minio and ghost are made through one mount of the shared filesystem
    Then the other mount sees the directories
    When files are written through one mount
    Then they read back identical through the other mount
