@ceph_dashboard @ceph
Feature: 08 ceph_dashboard — the Ceph dashboard reachable from outside
  The mgr dashboard module serves the Ceph dashboard; the lab puts NodePort 30001 in front.

  Scenario: ceph_dashboard — the dashboard answers and an admin logs in
    Given the lab has what stage ceph_dashboard needs
    When stage ceph_dashboard is applied
    Then the Ceph dashboard serves its login page
    When the dashboard's admin user logs in with the generated password and with a wrong one
    Then the generated password gets a token and the wrong one is refused
    And the health the dashboard reports matches ceph status
