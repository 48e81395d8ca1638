@mysql @data
Feature: 16 mysql — MySQL on Ceph block storage
  A 5 GiB volume from rook-ceph-block holds MySQL's data; the lab reaches it on NodePort
  30020 and the data outlives the server.

  Scenario: mysql — rows survive a restart of the server
    Given the lab has what stage mysql needs
    When stage mysql is applied
    Then a client connects and lists the databases
    And rows written to database ghost are there after the server restarts
    And the database's volume holds its data in Ceph
