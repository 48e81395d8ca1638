@master_isolation @k8s
Feature: 04 master_isolation — pods may run on the control-plane node
  The control-plane NoSchedule taint is removed so that k8s-1 takes workloads and storage.

  Scenario: master_isolation — a pod schedules on k8s-1
    Given the lab has what stage master_isolation needs
    When stage master_isolation is applied
    Then k8s-1 carries no NoSchedule taint
    When a pod is pinned to k8s-1
    Then the pinned pod runs
