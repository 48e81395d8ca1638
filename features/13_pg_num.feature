@pg_num @ceph
Feature: 13 pg_num — placement groups raised to 150
  The lab sets pg_num 150 on k8s-fs-data0 and replicapool (with the autoscaler off for
  them, so that Ceph keeps the number).

  Scenario: pg_num — both pools at pg_num 150
    Given the lab has what stage pg_num needs
    When stage pg_num is applied
    Then pools k8s-fs-data0 and replicapool report pg_num 150 with the autoscaler off
    And the only health warning left is POOL_PG_NUM_NOT_POWER_OF_TWO
