"""JSON Schema of a Volcano `batch.volcano.sh/v1alpha1` Job, derived from the CRD's openAPIV3Schema
(volcano-sh/volcano config/crd/volcano/bases/batch.volcano.sh_jobs.yaml).

The spec fields, their types, bounds, patterns and enums are the CRD's. Two deliberate differences: unknown keys
are errors here (the API server would silently prune them, so a typo would be lost without a word), and the pod
template is only required to be an object with a `spec`: it is built from, and checked by, the kubernetes
client's own models (V1PodTemplateSpec), which know the full pod schema.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
EVENTS = [
    "*",
    "PodPending",
    "PodRunning",
    "PodFailed",
    "PodEvicted",
    "Unknown",
    "TaskCompleted",
    "OutOfSync",
    "CommandIssued",
    "JobUpdated",
    "TaskFailed",
]
# The CRD types `action` as a string; these are the actions Volcano's admission webhook accepts for policies.
ACTIONS = ["AbortJob", "RestartJob", "RestartTask", "RestartPod", "TerminateJob", "CompleteJob", "ResumeJob"]
PHASES = [
    "Pending",
    "Aborting",
    "Aborted",
    "Running",
    "Restarting",
    "Completing",
    "Completed",
    "Terminating",
    "Terminated",
    "Failed",
]

_INT32_MIN0 = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}

_POLICY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "action": {"type": "string", "enum": ACTIONS},
        "event": {"type": "string", "enum": EVENTS},
        "events": {"type": "array", "items": {"type": "string", "enum": EVENTS}},
        "exitCode": {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1, "not": {"const": 0}},
        "timeout": {"type": "string"},
    },
    "required": ["action"],
    # The webhook refuses a policy with both an event and an exit code, and one with neither.
    "oneOf": [
        {"anyOf": [{"required": ["event"]}, {"required": ["events"]}], "not": {"required": ["exitCode"]}},
        {"required": ["exitCode"], "not": {"anyOf": [{"required": ["event"]}, {"required": ["events"]}]}},
    ],
}

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}

_TASK: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 63, "pattern": DNS_LABEL},
        "replicas": _INT32_MIN0,
        "minAvailable": _INT32_MIN0,
        "maxRetry": _INT32_MIN0,
        "policies": {"type": "array", "items": _POLICY},
        "topologyPolicy": {"type": "string", "enum": ["none", "best-effort", "restricted", "single-numa-node"]},
        "dependsOn": {
            "type": "object",
            "properties": {"name": {"type": "array", "items": {"type": "string"}}, "iteration": {"type": "string"}},
        },
        "template": {
            "type": "object",
            "properties": {
                "metadata": {
                    "type": "object",
                    "properties": {"labels": _STRING_MAP, "annotations": _STRING_MAP, "name": {"type": "string"}},
                },
                "spec": {"type": "object", "required": ["containers"]},
            },
            "required": ["spec"],
        },
    },
    "required": ["name", "replicas", "template"],
}

JOB_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "batch.volcano.sh/v1alpha1"},
        "kind": {"const": "Job"},
        "metadata": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 63, "pattern": DNS_LABEL},
                "namespace": {"type": "string", "maxLength": 63, "pattern": DNS_LABEL},
                "labels": _STRING_MAP,
                "annotations": _STRING_MAP,
            },
            "required": ["name"],
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "schedulerName": {"type": "string", "maxLength": 63},
                "minAvailable": _INT32_MIN0,
                "minSuccess": {"type": "integer", "minimum": 1},
                "maxRetry": _INT32_MIN0,
                "queue": {"type": "string", "maxLength": 253, "pattern": DNS_SUBDOMAIN},
                "priorityClassName": {"type": "string", "maxLength": 253, "pattern": DNS_SUBDOMAIN},
                "ttlSecondsAfterFinished": _INT32_MIN0,
                "runningEstimate": {"type": "string"},
                "plugins": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                "policies": {"type": "array", "items": _POLICY},
                "tasks": {"type": "array", "items": _TASK, "minItems": 1},
                "volumes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "mountPath": {"type": "string", "minLength": 1, "pattern": r"^[^:]+$"},
                            "volumeClaimName": {"type": "string", "maxLength": 253},
                            "volumeClaim": {"type": "object"},
                        },
                        "required": ["mountPath"],
                    },
                },
            },
            "required": ["tasks"],
        },
        "status": {"type": "object"},
    },
    "required": ["apiVersion", "kind", "metadata", "spec"],
}

_VALIDATOR = Draft202012Validator(JOB_SCHEMA)


def job_schema_errors(document: dict[str, Any]) -> list[str]:
    """Every way `document` breaks the schema, as 'path: message' (empty when it is a valid Job)."""
    found = []
    for error in sorted(_VALIDATOR.iter_errors(document), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        found.append(f"{where}: {error.message}")
    return found
