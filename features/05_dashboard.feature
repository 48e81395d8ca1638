@dashboard @k8s
Feature: 05 dashboard — the Kubernetes Dashboard with an admin login
  The Dashboard behind NodePort 30000; ServiceAccount admin-user bound to cluster-admin.

  Scenario: dashboard — the Dashboard answers and an admin token logs in
    Given the lab has what stage dashboard needs
    When stage dashboard is applied
    Then the Dashboard answers over HTTPS on node port 30000 of k8s-1
    When a short-lived token of admin-user is created
    Then the token logs in through node port 30000 of k8s-1 and a bogus one is refused

  Scenario: dashboard — a person logs in with the admin token in a browser
    Given a headless browser
    And the lab has what stage dashboard needs
    When stage dashboard is applied
    And the browser opens the Kubernetes Dashboard on node port 30000 of k8s-1
    Then the browser shows the Dashboard's token login
    When the admin logs in through the form with a wrong token
    Then the form refuses the login
    When the admin logs in through the form with a short-lived token of admin-user
    Then the Dashboard's landing page shows the cluster's namespaces
