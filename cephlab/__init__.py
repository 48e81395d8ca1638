"""cephlab: the engine behind the Ceph-on-Kubernetes lab conformance harness.

The public surface used by fixtures and steps:

- :class:`cephlab.config.LabConfig` and :func:`cephlab.config.resolve_target`
- :class:`cephlab.lab.Lab`, the lifecycle facade (reach a stage, destroy, diagnose)
- :mod:`cephlab.ceph_checks`, pure assertion functions over Ceph's own JSON
- :func:`cephlab.waits.wait_for`, the one wait helper
"""

__version__ = "0.1.0"
