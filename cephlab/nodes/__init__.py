"""Kubernetes nodes made by the harness: their programs built from source (:mod:`cephlab.nodes.kubebuild`)."""
