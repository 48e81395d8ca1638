"""The Kubernetes side of the lab: pinned versions, rendered manifests, the offline plan
and a thin Vagrant layer.

- :mod:`cephlab.k8s.versions` — every pinned version
- :mod:`cephlab.k8s.manifests` — the lab's objects as dicts (source of truth)
- :func:`cephlab.k8s.plan.write_plan` — the whole lab as files, run nothing
- :class:`cephlab.k8s.vagrant.VagrantLab` — ``vagrant up/status/ssh/destroy``
"""
