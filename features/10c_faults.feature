@faults @ceph @destructive @data
Feature: 10c faults — data survives daemons and a node going away
  Beyond the 2018 lab: what storage is for. Pools keep two copies (size 2, min_size 1), so
  one OSD, one MDS or one whole node may go away without data becoming unreadable or lost.
  Each fault is undone again, and the lab must be healthy afterwards.

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
