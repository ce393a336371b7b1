"""Volcano backend: a `batch.volcano.sh` Job on a Kubernetes cluster."""
