@toy
Feature: 18 toy — a stage added by one module, a feature and its steps

  Scenario: toy — the toy note is written
    Given the lab has what stage toy needs
    When stage toy is applied
    Then the lab directory holds the toy note
