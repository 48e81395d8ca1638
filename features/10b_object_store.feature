@object_store @ceph @data
Feature: 10b object_store — S3 object storage
  The third kind of Ceph storage the lab names (and never deploys): the S3 API of RGW.

  Scenario: object_store — a bucket holds objects that read back identical
    Given the lab has what stage object_store needs
    When stage object_store is applied
    Then a bucket can be created through the S3 API
    And objects of several sizes put into it read back byte-identical
    And wrong keys are denied
