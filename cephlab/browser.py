"""A real browser on the lab's web pages: headless Chromium driven by chromedriver through
selenium, both from the distro's packages (``python3 -m cephlab setup`` installs them).

Nothing is downloaded at run time: the browser and its driver are given to selenium by path.
Without them :func:`find` says what is missing and the browser checks skip saying so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

#: Debian's package names, for `python3 -m cephlab setup` and for the skip message.
PACKAGES = ("chromium", "chromium-driver")
BROWSERS = ("chromium", "chromium-browser")
DRIVER = "chromedriver"
WINDOW = (1280, 900)
#: Counts the page's requests in flight (XHR and fetch), installed before any page script
#: runs: a check can wait until the page's own requests have answered instead of sleeping.
NETWORK_COUNTER = """
(() => {
  if (window.__cephlabNet) return;
  const net = window.__cephlabNet = {pending: 0, last: Date.now()};
  const begin = () => { net.pending += 1; net.last = Date.now(); };
  const end = () => { net.pending -= 1; net.last = Date.now(); };
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (...args) {
    begin(); this.addEventListener('loadend', end); return send.apply(this, args);
  };
  if (window.fetch) {
    const fetch = window.fetch;
    window.fetch = function (...args) { begin(); return fetch.apply(this, args).finally(end); };
  }
})();
"""


@dataclass(frozen=True)
class Found:
    browser: Optional[str]
    driver: Optional[str]
    missing: str = ""  #: why there is no browser to drive ("" when there is one)

    @property
    def usable(self) -> bool:
        return not self.missing


def find(which: Callable[[str], Optional[str]] = shutil.which, python: bool = True) -> Found:
    """The headless browser and its driver on PATH, or what is missing; ``python=False``
    leaves out the selenium package (``cephlab doctor`` may run on a Python without the
    project's packages, which it checks on their own)."""
    browser = next((p for p in map(which, BROWSERS) if p), None)
    driver = which(DRIVER)
    lacking = [what for what, path in (("chromium", browser), ("chromedriver", driver)) if not path]
    try:
        if python:
            import selenium  # noqa: F401  (a pyproject dependency; checked for a clear message)
    except ImportError:
        lacking.append("the selenium package")
    if lacking:
        return Found(browser, driver, f"no headless browser: {' and '.join(lacking)} not installed "
                                      f"(`python3 -m cephlab setup` installs {', '.join(PACKAGES)}; "
                                      f"selenium comes with `pip install -e .`)")
    return Found(browser, driver)


def version(found: Found) -> str:
    """``Chromium 1xx.…`` as the browser reports it (for the report's header)."""
    if found.browser is None:  # nothing found to ask
        return "unknown"
    try:
        out = subprocess.run([found.browser, "--version"], capture_output=True, text=True,
                             timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    match = re.search(r"(Chromium|Chrome)\s+[\d.]+", out)
    return match.group(0) if match else out.strip()[:60] or "unknown"


class Browser:
    """One headless Chromium session. Screenshots go to ``shots_dir``; ``on_shot(path,
    caption)`` is told of each one (the run's report embeds them)."""

    def __init__(self, found: Found, shots_dir: Path,
                 on_shot: Callable[[Path, str], None] = lambda path, caption: None):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        if not found.usable:
            raise RuntimeError(found.missing)
        assert found.browser is not None  # a usable Found names its browser (see find)
        self.shots_dir = Path(shots_dir)
        self.shots_dir.mkdir(parents=True, exist_ok=True)
        self._on_shot = on_shot
        self._profile = tempfile.TemporaryDirectory(prefix="cephlab-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = found.browser
        for arg in ("--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--no-default-browser-check",
                    f"--window-size={WINDOW[0]},{WINDOW[1]}",
                    f"--user-data-dir={self._profile.name}",
                    # the lab's Kubernetes dashboard serves a self-signed certificate
                    "--ignore-certificate-errors"):
            opts.add_argument(arg)
        if os.geteuid() == 0:  # Chromium refuses to run as root with its sandbox on
            opts.add_argument("--no-sandbox")
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(executable_path=found.driver), options=opts)
        self.driver.set_page_load_timeout(60)
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": NETWORK_COUNTER})

    # ------------------------------------------------------------------ acting
    def open(self, url: str) -> None:
        """Load ``url``; a page that does not load is an AssertionError naming the browser's
        own error (net::ERR_CONNECTION_REFUSED, …), so a named wait can retry it."""
        from selenium.common.exceptions import WebDriverException

        try:
            self.driver.get(url)
        except WebDriverException as exc:
            first = (exc.msg or type(exc).__name__).splitlines()[0]
            raise AssertionError(f"{url} does not load in the browser: {first}") from None

    def reload(self) -> None:
        self.driver.refresh()

    def fill(self, css: str, text: str) -> None:
        from selenium.webdriver.common.by import By

        field = self.driver.find_element(By.CSS_SELECTOR, css)
        field.clear()
        field.send_keys(text)

    def click(self, css: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, css).click()

    # ------------------------------------------------------------------ observing
    @property
    def url(self) -> str:
        return self.driver.current_url

    @property
    def title(self) -> str:
        return self.driver.title

    def text(self) -> str:
        """The visible text of the page."""
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "body").text

    def titles(self) -> list[str]:
        """The ``title`` of every visible element: what an icon says when pointed at (the
        Ceph 20 dashboard shows the cluster's health as an icon titled HEALTH_OK)."""
        return self.driver.execute_script(
            "return Array.from(document.querySelectorAll('[title]'))"
            ".filter(e => e.getClientRects().length > 0).map(e => e.getAttribute('title'))")

    def has(self, css: str) -> bool:
        from selenium.webdriver.common.by import By

        return bool(self.driver.find_elements(By.CSS_SELECTOR, css))

    def now(self) -> float:
        """The page's clock, in milliseconds since the epoch (what its notifications stamp)."""
        return float(self.driver.execute_script("return Date.now()"))

    def network(self) -> Optional[tuple[int, float]]:
        """(requests in flight, ms since the last one began or ended) on the current page;
        None when the page has no counter (it was not loaded by this browser)."""
        got = self.driver.execute_script(
            "const n = window.__cephlabNet; return n ? [n.pending, Date.now() - n.last] : null")
        return (int(got[0]), float(got[1])) if got else None

    def dashboard_notifications(self, since_ms: float = 0.0) -> list[dict]:
        """The Ceph dashboard's notifications (kept by the page in its localStorage as
        cdNotifications, also after their toast faded) stamped at or after ``since_ms``."""
        from datetime import datetime

        raw = self.driver.execute_script("return window.localStorage.getItem('cdNotifications')")
        notes = json.loads(raw) if raw else []
        out = []
        for note in notes:
            stamp = note.get("timestamp")
            try:
                ms = datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp() * 1000
            except ValueError:
                ms = since_ms  # no readable stamp: counted
            if ms >= since_ms:
                out.append(note)
        return out

    def console(self, level: str = "SEVERE") -> list[str]:
        """Console messages at ``level`` since the last call (the driver hands each out once)."""
        return [e["message"] for e in self.driver.get_log("browser") if e.get("level") == level]

    def screenshot(self, name: str, caption: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "page"
        path = self.shots_dir / f"{safe}.png"
        n = 1
        while path.exists():
            n += 1
            path = self.shots_dir / f"{safe}-{n}.png"
        if not self.driver.save_screenshot(str(path)):
            raise RuntimeError(f"the browser could not save a screenshot to {path}")
        self._on_shot(path, caption)
        return path

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            self._profile.cleanup()
