"""pytest plugins loaded into a child harness run (``-p tests.sabotage.<name>``) that break
one undo step of a fault, so a test can show the scenario goes red when that step fails."""
