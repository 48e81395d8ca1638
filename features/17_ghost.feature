@ghost @data
Feature: 17 ghost — Ghost on CephFS and MySQL
  Ghost with database ghost on MySQL (its volume on Ceph block storage) and its content
  directory on CephFS path /ghost, behind NodePort 30030. The same steps on every target.

  Scenario: ghost — the blog answers and its own tables are in MySQL
    Given the lab has what stage ghost needs
    When stage ghost is applied
    Then the blog's home page answers over HTTP
    And the admin API reports the pinned Ghost version
    And database ghost holds the tables posts, users, settings, migrations, roles and tags
    And table migrations records the pinned Ghost version
    And the report names the database server Ghost runs on

  Scenario: ghost — a post and an image outlive restarts of Ghost and MySQL
    Given the lab has what stage ghost needs
    When stage ghost is applied
    And the blog's owner publishes a post with an image through the Admin API
    Then the post is a row of table posts
    And the post is on the blog's public page
    When Ghost and MySQL are restarted
    Then the post and the image are still served
    And the image is a file under /ghost/images on the shared filesystem, byte-identical through a second mount

  Scenario: ghost — a person sees the published post on the blog's home page in a browser
    Given a headless browser
    And the lab has what stage ghost needs
    When stage ghost is applied
    And the blog's owner publishes a post with an image through the Admin API
    Then the blog's home page in a browser shows the published post

  @k8s
  Scenario: ghost — the Kubernetes objects behind the blog
    Given the lab has what stage ghost needs
    When stage ghost is applied
    Then claim ghost-content is Bound
    And the pod of app ghost is Running and ready
