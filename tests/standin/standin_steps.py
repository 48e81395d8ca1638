"""Stand-in stages for the report's tests: scenarios tagged with the lab's stage slugs whose
steps pass, fail, skip, take a while or use the browser, without building a lab. Copied with its
conftest and ini into a temporary project by tests/test_report.py, and run there."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pytest_bdd import given, parsers, scenarios, then, when

from cephlab.secrets import SecretStore

scenarios("stand_in.feature")

PAGE = """<!DOCTYPE html><html><head><title>stand-in page</title></head>
<body style="font-family: sans-serif; margin: 2em">
<h1 style="color: #1565c0">The stand-in page</h1>
<div style="display:flex; gap: 1em">
  <div style="width: 200px; height: 120px; background: #c62828"></div>
  <div style="width: 200px; height: 120px; background: #2e7d32"></div>
  <div style="width: 200px; height: 120px; background: #f9a825"></div>
</div><p>Rows, columns and colours a blank screenshot would not have.</p></body></html>"""


@given("a stand-in lab")
def stand_in_lab():
    Path(os.environ["LAB_DIR"]).mkdir(parents=True, exist_ok=True)


@when(parsers.parse("the stand-in stage works for {seconds:d} seconds"))
def stand_in_works(seconds):
    Path(os.environ["STANDIN_STARTED"]).write_text("started")  # the test waits for this
    time.sleep(seconds)


@then("the stand-in check holds")
def stand_in_holds():
    assert Path(os.environ["LAB_DIR"]).is_dir(), "the stand-in lab dir is gone"


@then("the stand-in check fails, naming the lab's secret")
def stand_in_fails():
    secret = SecretStore(Path(os.environ["LAB_DIR"])).get("stand-in-password")
    print(f"stand-in output with the secret {secret}")
    assert secret == "something else", f"the stand-in check saw {secret}"


@when("the browser opens the stand-in page")
def open_page(browser, tmp_path):
    page = tmp_path / "page.html"
    page.write_text(PAGE)
    browser.open(page.as_uri())


@then("the browser shows the stand-in page")
def page_shown(browser):
    assert "The stand-in page" in browser.text(), browser.text()[:200]
    browser.screenshot("stand-in-page", "the stand-in page")
