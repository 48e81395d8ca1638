@minio @k8s @data
Feature: 15 minio — MinIO on the shared filesystem
  A helper pod creates /minio and /ghost on CephFS; MinIO keeps /data on CephFS path /minio
  behind NodePort 30010.

  Scenario: minio — a bucket and an object through MinIO's S3 API
    Given the lab has what stage minio needs
    When stage minio is applied
    Then claim minio-data is Bound
    And the pod of app minio is Running and ready
    When a bucket is created through MinIO
    And an object is written into it through MinIO
    Then the object reads back byte-identical through MinIO
    And the object is a file under /minio on the shared filesystem
