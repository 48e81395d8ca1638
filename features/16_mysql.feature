@mysql @data
Feature: 16 mysql — MySQL on Ceph block storage
  A 5 GiB volume from rook-ceph-block holds MySQL's data; the lab reaches it on NodePort
  30020 and the data outlives the server.

  Scenario: mysql — rows survive a restart of the server
    Given the lab has what stage mysql needs
    When stage mysql is applied
    Then a client connects and lists the databases
    When 500 rows are written to database ghost
    And the server restarts
    Then the rows read back identical
    And the database's volume holds its data in Ceph
