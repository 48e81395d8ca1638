@rook_operator @k8s
Feature: 06 rook_operator — the Rook operator
  The Rook CRDs, common resources, CSI operator and the Rook operator.

  Scenario: rook_operator — the operator runs and Rook's CRDs are registered
    Given the lab has what stage rook_operator needs
    When stage rook_operator is applied
    Then the Rook operator pod is Running and ready
    And the CRDs cephclusters, cephblockpools, cephfilesystems and cephobjectstores are registered
