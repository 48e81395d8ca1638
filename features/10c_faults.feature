@faults @ceph @destructive @data
Feature: 10c faults — data survives daemons and a node going away
  Beyond the 2018 lab: what storage is for. Pools keep two copies (size 2, min_size 1), so
  one OSD, one MDS or one whole node may go away without data becoming unreadable or lost.
  A node may also be cut off by the network, and the disks may fill up. Each fault is
  undone again, and the lab must be healthy afterwards.

  Scenario: faults — an OSD killed while a client writes
    Given the lab has what stage faults needs
    When an OSD is killed while a client writes
    Then the fault was noticed and the lab recovered
    And nothing was lost

  Scenario: faults — a whole node stopped keeps quorum, data, rows and files
    Given the lab has what stage faults needs
    When every daemon of node k8s-3 is killed
    Then the fault was noticed and the lab recovered
    And nothing was lost

  Scenario: faults — the standby-replay MDS takes over from a killed active MDS
    Given the lab has what stage faults needs
    When the active MDS is killed
    Then the fault was noticed and the lab recovered
    And nothing was lost

  Scenario: faults — node k8s-3 cut off by a network partition, then healed, loses nothing
    Given the lab has what stage faults needs
    When node k8s-3 is cut off from the other nodes while clients write
    Then the fault was noticed and the lab recovered
    And nothing was lost
    And no partition rule of the lab is left

  Scenario: faults — disks past near-full warn, at full writes wait and reads go on
    Given the lab has what stage faults needs
    When the OSDs are pushed past near-full and then past full
    Then the fault was noticed and the lab recovered
    And nothing was lost
    And the full ratios are the cluster's own again
