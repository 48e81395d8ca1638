Feature: stand-in stages for the tests of the report

  @toolbox
  Scenario: toolbox — a stand-in check that holds
    Given a stand-in lab
    When the stand-in stage works for 0 seconds
    Then the stand-in check holds

  @toolbox
  Scenario: toolbox — a stand-in page in a browser
    Given a headless browser
    And a stand-in lab
    When the browser opens the stand-in page
    Then the browser shows the stand-in page

  @minio
  Scenario: minio — a stand-in on a stage the local target skips
    Given a stand-in lab
    Then the stand-in check holds

  @pg_num
  Scenario: pg_num — a stand-in check that fails
    Given a stand-in lab
    Then the stand-in check fails, naming the lab's secret

  @extend_storage
  Scenario: extend_storage — a slow stand-in stage
    Given a stand-in lab
    When the stand-in stage works for 120 seconds
    Then the stand-in check holds

  @remove_node
  Scenario: remove_node — a stand-in after the slow one
    Given a stand-in lab
    Then the stand-in check holds
