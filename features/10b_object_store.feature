@object_store @ceph @data
Feature: 10b object_store — S3 object storage
  The third kind of Ceph storage the lab names (and never deploys): the S3 API of RGW.

  Scenario: object_store — a bucket holds objects that read back identical
    Given the lab has what stage object_store needs
    When stage object_store is applied
    And a bucket is created through the S3 API
    Then the bucket is listed
    When objects of several sizes are put into the bucket
    Then they are listed with their sizes and read back byte-identical
    When the objects and the bucket are deleted
    Then the bucket is gone
    And wrong keys are denied
