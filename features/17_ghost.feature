@ghost @k8s @data
Feature: 17 ghost — Ghost on CephFS and MySQL
  Ghost with database ghost on MySQL and its content directory on CephFS path /ghost.

  Scenario: ghost — the blog answers and its tables are in MySQL
    Given the lab has what stage ghost needs
    When stage ghost is applied
    Then claim ghost-content is Bound
    And the pod of app ghost is Running and ready
    And the blog's home page answers over HTTP
    And database ghost holds the tables posts, users, settings, migrations, roles and tags
