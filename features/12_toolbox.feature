@toolbox @ceph
Feature: 12 toolbox — the Ceph command line answers and agrees with the lab
  The toolbox runs ceph status, ceph osd status, ceph df and rados df.

  Scenario: toolbox — ceph status, osd status, df and rados df agree with the stages before
    Given the lab has what stage toolbox needs
    When stage toolbox is applied
    Then ceph status agrees with the lab
    And ceph osd status lists every OSD of the lab as up
    And ceph df and rados df agree on the lab's pools
