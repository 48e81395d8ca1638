"""The Kubernetes side of the lab, in layers (each imports only from the layers above it).

Rendering — the lab's objects as plain dicts, nothing runs:

(Every pinned version lives at the core, :mod:`cephlab.versions`, which the local target reads too.)

- :mod:`cephlab.k8s.host_tools` — the host programs the targets need, what for, how to install
- :mod:`cephlab.k8s.objects` — shared names and small object builders (Calico settings, CSI PVs)
- :mod:`cephlab.k8s.rook` — Rook custom resources, the toolbox
- :mod:`cephlab.k8s.apps` — dashboard access, CephFS helper, MinIO, MySQL, Ghost
- :mod:`cephlab.k8s.manifests` — the one place to import the renderers from
- :mod:`cephlab.k8s.export` — writes manifests/ (``python -m cephlab.k8s.export``)

Plan — what each stage does, as typed operations:

- :mod:`cephlab.k8s.plan_ref` — what operations share (object refs, the toolbox's exec, quoting)
- :mod:`cephlab.k8s.transport` — how a host operation reaches a node (vagrant ssh, node exec, kubectl debug)
- :mod:`cephlab.k8s.ops_kube` — operations on the API and its workloads (apply, waits, exec, …)
- :mod:`cephlab.k8s.ops_host` — operations on hosts (VMs, node scripts, HTTP checks, OSD removal)
- :mod:`cephlab.k8s.plan_ops` — the operation types gathered, and :class:`StagePlan`
- :mod:`cephlab.k8s.plan_context` — what a stage's operations are built from (hosts, one lab's nodes and devices)
- :mod:`cephlab.k8s.plan_build` — the lab's plan: each stage module's operations (:mod:`cephlab.stages`), in stage order
- :mod:`cephlab.k8s.made_by_others` — what upstream manifests, Helm, kubeadm and Rook create
- :mod:`cephlab.k8s.plan_check` — the plan checker (a model of what exists, step by step)
- :mod:`cephlab.k8s.plan` — writes the plan as files (``python -m cephlab.k8s.plan``)

Running a plan on a live cluster:

- :mod:`cephlab.k8s.kube` — the Kubernetes API client (plain-dict objects)
- :mod:`cephlab.k8s.kube_checks` — pure checks over Kubernetes objects
- :mod:`cephlab.k8s.plan_runner` — runs typed operations (one method per type)
- :mod:`cephlab.k8s.kube_engine` — what the Kubernetes targets compose: plan runs, records, waits
- :mod:`cephlab.k8s.diagnostics` — the "lab diagnostics" of a failed scenario

Targets — where the lab runs:

- :mod:`cephlab.k8s.kube_target` — the base the Kubernetes targets share (API, toolbox, services;
  the nodes target, :mod:`cephlab.nodes.target`, builds on it too)
- :mod:`cephlab.k8s.cluster_config` — the cluster target's node/device file
- :mod:`cephlab.k8s.cluster_target` — an existing cluster through a kubeconfig
- :mod:`cephlab.k8s.kube_services` — the lab's services on a Kubernetes target
- :mod:`cephlab.k8s.vagrant` — ``vagrant up/status/ssh/destroy`` (python-vagrant)
- :mod:`cephlab.k8s.vm_checks` — pure checks of what the VMs report
- :mod:`cephlab.k8s.vagrant_target` — the lab itself on three VMs
- :mod:`cephlab.k8s.preflight` — the host tools and versions the targets need, checked first
"""
