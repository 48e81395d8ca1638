"""The lab's web pages in a real browser, as a person uses them: the Ceph dashboard, the
Kubernetes Dashboard and the Ghost blog. When acts (open, fill in, submit), Then observes
(what the page shows); every Then keeps a screenshot for the report.

Credentials come from the target (the generated dashboard password) or the cluster (a
short-lived admin-user token); they are typed into forms, never printed.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid

from pytest_bdd import given, parsers, then, when

from cephlab import ceph_checks
from cephlab.plugin import lab_session

HEALTH = re.compile(r"\bHEALTH_[A-Z]+\b")
#: The landing page's notifications are read once its requests have all answered and none
#: began for QUIET_MS (they answered within 2 s of the login here), and at the latest
#: LANDING_SETTLE s after the login: a request later than that is missed, never invented.
LANDING_SETTLE = 4.0
QUIET_MS = 500.0


def _base(lab, service: str, scheme: str = "http") -> str:
    host, port = lab.target.endpoint(service)
    return f"{scheme}://{host}:{port}"


@given("a headless browser")
def headless_browser(browser):
    """First step of a browser scenario: without a browser it skips before any lab work."""
    return browser


# ------------------------------------------------------------------ Ceph dashboard
CEPH_USER, CEPH_PASSWORD, CEPH_SUBMIT = "input#username", "input#password", "[type=submit]"


@when("the browser opens the Ceph dashboard")
def ceph_open(browser, lab, expect, timeouts):
    url = _base(lab, "ceph_dashboard") + "/"
    expect(f"the browser to load {url}", lambda: browser.open(url), timeout=timeouts.daemon_start)


@then("the browser shows the Ceph dashboard's login form")
def ceph_login_form(browser, expect):
    def form():
        assert browser.title == "Ceph", f"the page's title is {browser.title!r}, not 'Ceph'"
        assert "/login" in browser.url, f"the browser is at {browser.url}, not the login page"
        missing = [c for c in (CEPH_USER, CEPH_PASSWORD, CEPH_SUBMIT) if not browser.has(c)]
        assert not missing, f"the login page has no {', '.join(missing)}"
    expect("the Ceph dashboard's login form", form, timeout=30)
    browser.screenshot("ceph-dashboard-login", "the Ceph dashboard's login page")


def _ceph_login(browser, lab, password: str) -> None:
    username = lab.target.credentials("ceph_dashboard")["username"]
    browser.fill(CEPH_USER, username)
    browser.fill(CEPH_PASSWORD, password)
    browser.click(CEPH_SUBMIT)


@when("the admin logs in through the form with a wrong password")
def ceph_wrong_login(browser, lab):
    _ceph_login(browser, lab, "not-" + uuid.uuid4().hex)


@when("the admin logs in through the form with the generated password")
def ceph_login(browser, lab, expect):
    browser.reload()  # a fresh form, as a person retrying would have (no earlier error toast)

    def form():
        assert browser.has(CEPH_PASSWORD), f"no login form at {browser.url} after a reload"
    expect("the Ceph dashboard's login form after a reload", form, timeout=30)
    browser.logged_in_at = browser.now()  # the notifications this login's pages raise
    _ceph_login(browser, lab, lab.target.credentials("ceph_dashboard")["password"])


@then("the form refuses the login")
def login_refused(browser, expect):
    def refused():
        text = browser.text()
        assert re.search(r"invalid credentials|unauthori[sz]ed|login failed", text, re.I), (
            f"no refusal shown on {browser.url}; the page says: {text[:300]!r}")
        assert "/login" in browser.url, f"a wrong credential got past the form to {browser.url}"
    expect("the form to refuse the login", refused, timeout=20, interval=0.25)
    browser.screenshot("login-refused", "a wrong credential refused on the login form")


@then("the landing page shows the cluster's health as ceph status reports it")
def ceph_landing_health(browser, ceph, expect):
    def health():
        assert "/login" not in browser.url, f"still on the login page: {browser.url}"
        # as text (Ceph 16: "Cluster Status HEALTH_OK") or as an icon's title (Ceph 20)
        shown = set(HEALTH.findall(browser.text() + "\n" + "\n".join(browser.titles())))
        truth = ceph.json("status")["health"]["status"]
        assert shown == {truth}, (f"the landing page ({browser.url}) shows "
                                  f"{sorted(shown) or 'no health'}, ceph status says {truth}")
        return truth
    truth = expect("the dashboard's landing page to show the cluster's health", health,
                   timeout=60, interval=0.5)
    # The landing page's own requests answer within seconds; an error among them (a 500)
    # shows as a red notification, which a person would see: the check fails on it.
    _settle(browser, deadline=time.monotonic() + max(
        0.0, LANDING_SETTLE - (browser.now() - browser.logged_in_at) / 1000))
    browser.screenshot("ceph-dashboard-landing", f"the Ceph dashboard after login: {truth}")
    errors = ceph_checks.dashboard_errors(browser.dashboard_notifications(browser.logged_in_at))
    assert not errors, (f"the dashboard shows error notifications after login: {'; '.join(errors)}"
                        f" (accepted ones: cephlab.ceph_checks.ACCEPTED_DASHBOARD_ERRORS)")


def _settle(browser, deadline: float) -> None:
    """Until the page's requests have answered and it has been quiet for QUIET_MS, or the
    deadline; a page whose requests cannot be counted waits for the deadline."""
    while time.monotonic() < deadline:
        net = browser.network()
        if net is not None and net[0] <= 0 and net[1] >= QUIET_MS:
            return
        time.sleep(0.1)


# ------------------------------------------------------------------ Kubernetes Dashboard
K8S_TOKEN, K8S_SUBMIT = "input#token", "button[type=submit]"


@when(parsers.parse("the browser opens the Kubernetes Dashboard on node port {port:d} of {node}"))
def k8s_open(browser, node_address, expect, timeouts, port, node):
    url = f"https://{node_address(node)}:{port}/"  # self-signed: the browser accepts it
    expect(f"the browser to load {url}", lambda: browser.open(url), timeout=timeouts.daemon_start * 3,
           interval=1)


@then("the browser shows the Dashboard's token login")
def k8s_login_form(browser, expect):
    def form():
        assert "/login" in browser.url, f"the browser is at {browser.url}, not the login page"
        assert browser.has(K8S_TOKEN), "the login page has no token field"
    expect("the Kubernetes Dashboard's login form", form, timeout=60)
    browser.screenshot("k8s-dashboard-login", "the Kubernetes Dashboard's login page")


@when("the admin logs in through the form with a wrong token")
def k8s_wrong_token(browser):
    browser.fill(K8S_TOKEN, "not-a-token-" + uuid.uuid4().hex)
    browser.click(K8S_SUBMIT)


@when("the admin logs in through the form with a short-lived token of admin-user")
def k8s_token_login(browser, kube, request):
    token = subprocess.run([*kube.kubectl_argv(), "-n", "kubernetes-dashboard", "create", "token",
                            "admin-user", "--duration=10m"], capture_output=True, text=True,
                           timeout=30, check=True).stdout.strip()
    lab_session(request.config).report.add_secret(token)  # never in the report
    browser.fill(K8S_TOKEN, token)
    browser.click(K8S_SUBMIT)


@then("the Dashboard's landing page shows the cluster's namespaces")
def k8s_landing(browser, kube, expect):
    def landing():
        assert "/login" not in browser.url, f"still on the login page: {browser.url}"
        text = browser.text()
        assert "default" in text or "kube-system" in text, (
            f"the Dashboard ({browser.url}) shows no namespace: {text[:300]!r}")
    expect("the Kubernetes Dashboard's landing page", landing, timeout=60, interval=1)
    browser.screenshot("k8s-dashboard-landing", "the Kubernetes Dashboard after login")


# ------------------------------------------------------------------ Ghost
@then("the blog's home page in a browser shows the published post")
def ghost_home_shows_post(browser, lab, expect, published):
    """``published`` is the post the ghost scenario published (its ``title``)."""
    def shown():
        browser.open(_base(lab, "ghost") + "/")
        text = browser.text()
        assert published.title in text, (f"the blog's home page does not show "
                                          f"{published.title!r}; it shows {text[:300]!r}")
    expect(f"the blog's home page to show {published.title!r}", shown, timeout=60, interval=1)
    browser.screenshot("ghost-home", f"the blog's home page with the post {published.title!r}")
