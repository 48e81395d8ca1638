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

  Scenario: ceph_dashboard — a person logs in through the dashboard's form in a browser
    Given a headless browser
    And the lab has what stage ceph_dashboard needs
    When stage ceph_dashboard is applied
    And the browser opens the Ceph dashboard
    Then the browser shows the Ceph dashboard's login form
    When the admin logs in through the form with a wrong password
    Then the form refuses the login
    When the admin logs in through the form with the generated password
    Then the landing page shows the cluster's health as ceph status reports it
