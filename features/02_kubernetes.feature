@kubernetes @k8s
Feature: 02 kubernetes — a kubeadm cluster on the three machines
  kubeadm init on k8s-1 with the lab's pod network and advertise address, kubeadm join on
  k8s-2 and k8s-3, and the admin kubeconfig copied for the user.

  Scenario: kubernetes — the API answers and three nodes registered
    Given the lab has what stage kubernetes needs
    When stage kubernetes is applied
    Then the Kubernetes API answers with the admin kubeconfig
    And the nodes k8s-1, k8s-2 and k8s-3 are registered
