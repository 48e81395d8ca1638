"""The harness's pytest wiring: the engine's plugin, the lab fixtures and the step modules."""

pytest_plugins = [
    "cephlab.plugin",
    "fixtures.lab",
    "steps.lab_steps",
    "steps.ceph_steps",
    "steps.data_steps",
    "fixtures.kube",
    "steps.k8s_steps",
    "steps.service_steps",
    "steps.ghost_steps",
    "steps.fault_steps",
    "fixtures.browser",
    "steps.browser_steps",
]
