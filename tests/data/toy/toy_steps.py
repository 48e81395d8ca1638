"""The toy stage's steps (tests/test_extending.py)."""

from pytest_bdd import then


@then("the lab directory holds the toy note")
def toy_note(lab):
    assert (lab.cfg.lab_dir / "toy.txt").read_text() == "toy stage applied\n"
