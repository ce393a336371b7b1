"""Checking a Volcano `batch.volcano.sh/v1alpha1` Job before it is sent, against the CRD that Volcano publishes.

The CRD (volcano_jobs_crd.yaml, shipped unchanged, its version and source in its header) gives the structure, types,
bounds, patterns and enums, pod template included. Its openAPIV3Schema is JSON Schema as far as validation goes
(the `x-kubernetes-*` and `format` keys are annotations to a JSON Schema validator). Three things are added:

- Unknown keys are errors outside the pod template: the API server would prune them without a word, so a typo
  (`maxRetries`) would be lost. The pod template is built from the kubernetes client's own models, whose Kubernetes
  version may know pod fields that this CRD's generator did not, so it keeps the CRD's leniency there.
- What Volcano's admission webhook refuses although the CRD allows it: an unknown policy action, a policy with both
  an event and an exit code (or neither), exit code 0, and a Job without tasks.
- What the API server checks in every object's metadata: a DNS-label name (and namespace).

When a cluster is reachable, the API server's own dry run (api.py) checks the rest, admission webhooks included.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

CRD_FILE = Path(__file__).with_name("jobs_crd.yaml")
API_VERSION = "v1alpha1"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# The actions Volcano's admission webhook accepts in a policy (the CRD types `action` as any string).
ACTIONS = ["AbortJob", "RestartJob", "RestartTask", "RestartPod", "TerminateJob", "CompleteJob", "ResumeJob"]

_NAME = {"type": "string", "maxLength": 63, "pattern": DNS_LABEL}
_EVENT = [{"required": ["event"]}, {"required": ["events"]}]
_POLICY_RULES: dict[str, Any] = {
    "properties": {"action": {"enum": ACTIONS}, "exitCode": {"not": {"const": 0}}},
    "required": ["action"],
    "oneOf": [
        {"anyOf": _EVENT, "not": {"required": ["exitCode"]}},
        {"required": ["exitCode"], "not": {"anyOf": _EVENT}},
    ],
}
_WEBHOOK_AND_METADATA_RULES: dict[str, Any] = {
    "properties": {
        "apiVersion": {"const": f"batch.volcano.sh/{API_VERSION}"},
        "kind": {"const": "Job"},
        "metadata": {"properties": {"name": _NAME, "namespace": _NAME}, "required": ["name"]},
        "spec": {
            "properties": {
                "policies": {"items": _POLICY_RULES},
                "tasks": {
                    "minItems": 1,
                    "items": {
                        "properties": {"policies": {"items": _POLICY_RULES}, "template": {"required": ["spec"]}},
                        "required": ["name", "replicas", "template"],
                    },
                },
            },
            "required": ["tasks"],
        },
    },
    "required": ["apiVersion", "kind", "metadata", "spec"],
}


@functools.cache
def crd_schema() -> dict[str, Any]:
    """The openAPIV3Schema of the Job, read from the shipped CRD (once: the file is 4,000 lines of YAML)."""
    crd = yaml.load(CRD_FILE.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    (version,) = (v for v in crd["spec"]["versions"] if v["name"] == API_VERSION)
    return version["schema"]["openAPIV3Schema"]


def _closed(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy where every object with declared properties refuses others, except inside pod templates."""
    schema = copy.deepcopy(schema)

    def close(node: Any, key: str) -> None:
        if not isinstance(node, dict) or key == "template":
            return
        if "properties" in node and "additionalProperties" not in node:
            if not node.get("x-kubernetes-preserve-unknown-fields"):
                node["additionalProperties"] = False
        for name, child in node.get("properties", {}).items():
            close(child, name)
        for keyword in ("items", "additionalProperties"):
            close(node.get(keyword), keyword)

    close(schema, "")
    return schema


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator({"allOf": [_closed(crd_schema()), _WEBHOOK_AND_METADATA_RULES]})


def phases() -> list[str]:
    """The Job phases the CRD's status can hold."""
    return list(crd_schema()["properties"]["status"]["properties"]["state"]["properties"]["phase"]["enum"])


def job_schema_errors(document: dict[str, Any]) -> list[str]:
    """Every way `document` breaks the CRD or the webhook's rules, as 'path: message' (empty when it is valid)."""
    found = []
    for error in sorted(_validator().iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        found.append(f"{where}: {error.message}")
    return found
