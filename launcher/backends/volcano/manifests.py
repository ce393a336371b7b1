"""The Kubernetes objects of one Volcano job: the Job itself, the rank-table ConfigMap (Ascend) and the Secret
reference for storage credentials.

Pod templates are built with the kubernetes client's models (V1PodTemplateSpec, V1Container, ...), which check
required fields, and serialized the way the client sends them; the Job around them is checked against the CRD
schema (schema.py). Credentials never appear in a manifest: pods read them from a Secret by reference.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from kubernetes.client import (
    ApiClient,
    V1ConfigMap,
    V1ConfigMapVolumeSource,
    V1Container,
    V1EmptyDirVolumeSource,
    V1EnvVar,
    V1EnvVarSource,
    V1HostPathVolumeSource,
    V1LocalObjectReference,
    V1ObjectFieldSelector,
    V1ObjectMeta,
    V1PodSpec,
    V1PodTemplateSpec,
    V1ResourceRequirements,
    V1SecretKeySelector,
    V1Volume,
    V1VolumeMount,
)
from pydantic import BaseModel

from entry.contract import (
    ENV_DEVICE,
    ENV_HOST_IP,
    ENV_JOB_ID,
    ENV_LOCAL_SIZE,
    ENV_NODES,
    ENV_POD_IP,
    ENV_RANK_TABLE_WAIT,
    ENV_WORK_DIR,
    EXIT_BAD_INPUT,
    EXIT_INFRA,
)
from launcher.backends.common import HYPERPARAMETERS_FILE, MAX_INLINE_HYPERPARAMETERS, hyperparameters_json, to_wire
from launcher.backends.devices import DeviceRequest
from launcher.backends.volcano.options import VolcanoOptions
from launcher.errors import UserError
from launcher.jobspec import JobSpec

GROUP, VERSION, PLURAL = "batch.volcano.sh", "v1alpha1", "jobs"
TASK = "worker"  # pods are <job>-worker-<index>; the svc plugin sets VC_WORKER_HOSTS / VC_WORKER_NUM
CONTAINER = "trainer"
MANAGED_BY = {"app.kubernetes.io/managed-by": "launcher"}
LABEL_JOB = "launcher.io/job"
ANNOTATION_JOB_ID = "launcher.io/job-id"
RING_LABEL = "ring-controller.atlas"
RANK_TABLE_DIR = "/user/serverid/devindex/config"  # where the Ascend device plugin's rank table is mounted
RANK_TABLE_FILE = f"{RANK_TABLE_DIR}/hccl.json"
ASCEND_DRIVER = "/usr/local/Ascend/driver"
CODE_DIR = "/home/launcher/code"
CACHE_DIR = "/cache"
STORAGE_KEYS = ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY")
TOKEN_KEY = "SESSION_TOKEN"  # temporary credentials: without it the keys are refused
NAME_LIMIT = 40  # pod names <job>-worker-<n> and the rings-config-<job> ConfigMap must stay valid DNS names


class StorageAccess(BaseModel):
    """How pods reach the object store: the endpoint (not secret) and the Secret keys they read, by reference."""

    endpoint: str
    region: str | None = None
    secret: str | None = None  # None: no keys from a Secret (the cluster provides credentials otherwise)
    keys: list[str] = []
    optional_keys: list[str] = []  # in a Secret the user keeps: a token may or may not be there


class SecretPlan(BaseModel):
    """The job's own Secret, written by `send` from the local profile and then owned by the Job (deleted with
    it); values are read at send time, never kept here."""

    name: str
    namespace: str
    keys: list[str]
    source: str


def storage_secret_name(name: str) -> str:
    """`<job>-storage`: one Secret per job, so jobs in a namespace never overwrite each other's keys."""
    return f"{name}-storage"


def k8s_name(job_id: str) -> str:
    """A DNS label from the job id: lower case, '-' for anything else, the unique tail kept when cut."""
    name = re.sub(r"[^a-z0-9-]+", "-", job_id.lower()).strip("-")
    if len(name) > NAME_LIMIT:
        tail = name[-20:]
        name = name[: NAME_LIMIT - len(tail) - 1].rstrip("-") + "-" + tail.lstrip("-")
    return name


class _Wire:
    """What the kubernetes client's deserializer reads: a response-like object with JSON text in `data`."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.data = json.dumps(document)


def from_wire(document: dict[str, Any], klass: str) -> Any:
    """A model (e.g. 'V1PodTemplateSpec') read back with the client's own deserializer: unknown keys do not survive."""
    return ApiClient().deserialize(_Wire(document), klass)


def device_kind(job: JobSpec) -> Literal["cpu", "gpu", "ascend"]:
    kind = DeviceRequest.parse(job.recipe.resources.device).kind
    assert kind in ("cpu", "gpu", "ascend")
    return kind  # type: ignore[return-value]


def rank_table_configmap(name: str, namespace: str, options: VolcanoOptions) -> V1ConfigMap:
    """`rings-config-<job>`: the Ascend device plugin / hccl-controller fills it with the job's rank table."""
    return V1ConfigMap(
        api_version="v1",
        kind="ConfigMap",
        metadata=V1ObjectMeta(
            name=f"rings-config-{name}",
            namespace=namespace,
            labels={RING_LABEL: options.ring_controller, LABEL_JOB: name, **MANAGED_BY},
        ),
        data={"hccl.json": json.dumps({"status": "initializing"}, indent=4) + "\n"},
    )


def _storage_env(access: StorageAccess) -> list[V1EnvVar]:
    env = [V1EnvVar(name="S3_ENDPOINT", value=access.endpoint)]
    if access.region:
        env.append(V1EnvVar(name="S3_REGION", value=access.region))
    for key in access.keys:
        selector = V1SecretKeySelector(name=access.secret, key=key, optional=key in access.optional_keys)
        env.append(V1EnvVar(name=key, value_from=V1EnvVarSource(secret_key_ref=selector)))
    return env


def _field(name: str, path: str) -> V1EnvVar:
    return V1EnvVar(name=name, value_from=V1EnvVarSource(field_ref=V1ObjectFieldSelector(field_path=path)))


HYPERPARAMETERS_DIR = "/etc/launcher/hyperparameters"


def hyperparameters_configmap(name: str, namespace: str, job: JobSpec) -> V1ConfigMap | None:
    """`<job>-hyperparameters` when the document is too large for one command-line argument (the pod's exec would
    fail with E2BIG): mounted into the pods and given to the entry as `@file`; owned by the Job like the rank table."""
    document = hyperparameters_json(job)
    if len(document.encode()) <= MAX_INLINE_HYPERPARAMETERS:
        return None
    return V1ConfigMap(
        api_version="v1",
        kind="ConfigMap",
        metadata=V1ObjectMeta(
            name=f"{name}-hyperparameters", namespace=namespace, labels={LABEL_JOB: name, **MANAGED_BY}
        ),
        data={HYPERPARAMETERS_FILE: document},
    )


def entry_command(job: JobSpec, python: str, recipe: str) -> list[str]:
    """The pod's command: the rank launcher (one entry process per card), then the entry's own arguments."""
    hyperparameters = hyperparameters_json(job)
    if len(hyperparameters.encode()) > MAX_INLINE_HYPERPARAMETERS:
        hyperparameters = f"@{HYPERPARAMETERS_DIR}/{HYPERPARAMETERS_FILE}"
    return [
        python,
        "-m",
        "entry.pod_ranks",
        "--",
        python,
        f"entry/modelarts_entry_{job.entry}.py",
        f"--data_url={job.data_url}",
        f"--train_url={job.train_url}",
        f"--recipe={recipe}",
        f"--hyperparameters={hyperparameters}",
    ]


def pod_template(
    job: JobSpec, name: str, options: VolcanoOptions, access: StorageAccess, code_url: str | None, recipe: str
) -> V1PodTemplateSpec:
    resources = job.recipe.resources
    if not resources.image:
        raise UserError("the volcano backend needs a container image: give --image <registry/image:tag>")
    kind = device_kind(job)
    per_pod = resources.count
    cards = {"ascend": {options.ascend_resource: str(per_pod)}, "gpu": {options.gpu_resource: str(per_pod)}}.get(
        kind, {}
    )
    sizes = {k: v for k, v in (("cpu", options.cpu), ("memory", options.memory)) if v}
    code_dir = options.code_in_image or CODE_DIR
    env = [
        V1EnvVar(name=ENV_JOB_ID, value=job.id),
        V1EnvVar(name="JOB_ID", value=job.id),
        V1EnvVar(name=ENV_WORK_DIR, value=f"{CACHE_DIR}/{job.id}"),
        V1EnvVar(name="PYTHONUNBUFFERED", value="1"),
        V1EnvVar(name=ENV_LOCAL_SIZE, value=str(per_pod)),
        V1EnvVar(name=ENV_NODES, value=str(resources.nodes)),
        V1EnvVar(name=ENV_DEVICE, value=kind),
        _field(ENV_HOST_IP, "status.hostIP"),
        _field(ENV_POD_IP, "status.podIP"),
        *_storage_env(access),
    ]
    mounts = [V1VolumeMount(name="cache", mount_path=CACHE_DIR)]
    volumes = [V1Volume(name="cache", empty_dir=V1EmptyDirVolumeSource())]
    labels = {LABEL_JOB: name, **MANAGED_BY}
    if kind == "ascend":
        labels[RING_LABEL] = options.ring_controller
        env += [
            V1EnvVar(name="RANK_TABLE_FILE", value=RANK_TABLE_FILE),
            V1EnvVar(name=ENV_RANK_TABLE_WAIT, value=str(options.rank_table_timeout_s)),
        ]
        mounts += [
            V1VolumeMount(name="ascend-driver", mount_path=ASCEND_DRIVER, read_only=True),
            V1VolumeMount(name="ranktable", mount_path=RANK_TABLE_DIR),
        ]
        volumes += [
            V1Volume(name="ascend-driver", host_path=V1HostPathVolumeSource(path=ASCEND_DRIVER)),
            V1Volume(name="ranktable", config_map=V1ConfigMapVolumeSource(name=f"rings-config-{name}")),
        ]
    if hyperparameters_configmap(name, "", job) is not None:
        mounts.append(V1VolumeMount(name="hyperparameters", mount_path=HYPERPARAMETERS_DIR, read_only=True))
        volumes.append(
            V1Volume(name="hyperparameters", config_map=V1ConfigMapVolumeSource(name=f"{name}-hyperparameters"))
        )
    init_containers = None
    if code_url is not None:  # fetched by the launcher in the image itself, with the same storage settings
        mounts.append(V1VolumeMount(name="code", mount_path=CODE_DIR))
        volumes.append(V1Volume(name="code", empty_dir=V1EmptyDirVolumeSource()))
        init_containers = [
            V1Container(
                name="fetch-code",
                image=resources.image,
                command=[options.python, "-m", "launcher", "data", "sync", code_url, CODE_DIR],
                env=_storage_env(access),
                volume_mounts=[V1VolumeMount(name="code", mount_path=CODE_DIR)],
            )
        ]
    container = V1Container(
        name=CONTAINER,
        image=resources.image,
        command=entry_command(job, options.python, recipe),
        working_dir=code_dir,
        env=env,
        resources=V1ResourceRequirements(limits={**sizes, **cards} or None, requests={**sizes, **cards} or None),
        volume_mounts=mounts,
    )
    return V1PodTemplateSpec(
        metadata=V1ObjectMeta(labels=labels),
        spec=V1PodSpec(
            containers=[container],
            init_containers=init_containers,
            volumes=volumes,
            restart_policy="Never",  # Volcano's policies restart the whole job: every rank resumes together
            termination_grace_period_seconds=options.grace_seconds,
            node_selector=options.node_selector or None,
            image_pull_secrets=[V1LocalObjectReference(name=options.image_pull_secret)]
            if options.image_pull_secret
            else None,
        ),
    )


def volcano_job(job: JobSpec, name: str, options: VolcanoOptions, template: V1PodTemplateSpec) -> dict[str, Any]:
    """The batch.volcano.sh/v1alpha1 Job: gang-scheduled (minAvailable = nodes), restarted as a whole on
    eviction, an infrastructure failure (EXIT_INFRA: storage or disk, after the entry's own retries) and, with
    restart_on_failure, any pod failure, up to maxRetry times; never on bad input (EXIT_BAD_INPUT: restarting cannot
    help). Volcano applies the first policy that matches, so the abort comes first."""
    nodes = job.recipe.resources.nodes
    labels = {LABEL_JOB: name, **MANAGED_BY}
    if device_kind(job) == "ascend":
        labels[RING_LABEL] = options.ring_controller
    policies: list[dict[str, Any]] = [
        {"exitCode": EXIT_BAD_INPUT, "action": "AbortJob"},
        {"exitCode": EXIT_INFRA, "action": "RestartJob"},
        {"event": "PodEvicted", "action": "RestartJob"},
    ]
    if options.restart_on_failure:
        policies.append({"event": "PodFailed", "action": "RestartJob"})
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": options.namespace,
            "labels": labels,
            "annotations": {ANNOTATION_JOB_ID: job.id, "launcher.io/recipe": job.recipe.name},
        },
        "spec": {
            "schedulerName": "volcano",
            "queue": options.queue,
            "minAvailable": nodes,
            "maxRetry": options.max_retry,
            "plugins": {"env": [], "svc": []},
            "policies": policies,
            "tasks": [{"name": TASK, "replicas": nodes, "template": to_wire(template)}],
        },
    }
