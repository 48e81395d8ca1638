"""The stand-in project's wiring: the harness's plugin and browser fixture, no lab steps."""

pytest_plugins = ["cephlab.plugin", "fixtures.browser", "steps.browser_steps"]
