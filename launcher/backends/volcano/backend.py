"""Volcano backend: a `batch.volcano.sh/v1alpha1` Job on a Kubernetes cluster (Ascend device plugin or GPUs).

One pod per node (task `worker`, replicas = nodes, gang-scheduled with minAvailable = nodes); in each pod
`entry.pod_ranks` starts one entry process per card. For Ascend the Job and its pods carry the
`ring-controller.atlas` label and mount the `rings-config-<job>` ConfigMap, which the device plugin fills with the
rank table. Storage credentials reach the pods from the job's own Secret (`<job>-storage`: keys and session token
of the local profile, owned by the Job so it goes with it), by reference; `render` shows which Secret and which
keys, never their values. When Volcano restarts the job (eviction, a failed pod, up to maxRetry), every
entry restores the newest checkpoint it pushed to train_url and goes on from there.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar

import yaml
from pydantic import BaseModel

from launcher import storage
from launcher.backends.base import JobHandle, read_handle
from launcher.backends.codeupload import CodePlan, plan_code_upload, upload_code
from launcher.backends.common import lines, to_wire
from launcher.backends.remote_records import RemoteBackend, RemoteHandle, RemoteStatus, reconcile
from launcher.backends.volcano.api import KubeAPI, KubeError
from launcher.backends.volcano.manifests import (
    ANNOTATION_JOB_ID,
    CONTAINER,
    LABEL_JOB,
    MANAGED_BY,
    STORAGE_KEYS,
    TASK,
    TOKEN_KEY,
    SecretPlan,
    StorageAccess,
    device_kind,
    from_wire,
    hyperparameters_configmap,
    k8s_name,
    pod_template,
    rank_table_configmap,
    storage_secret_name,
    volcano_job,
)
from launcher.backends.volcano.options import VolcanoOptions
from launcher.backends.volcano.schema import job_schema_errors
from launcher.errors import UserError
from launcher.jobs import JobRecord, JobState
from launcher.jobspec import JobSpec
from launcher.logs import logger
from launcher.retry import RetryPolicy

# Job status.state.phase -> our states; None: on its way to another state, the record waits for where it ends up.
PHASES: dict[str, JobState | None] = {
    "Pending": JobState.PENDING,
    "Running": JobState.RUNNING,
    "Restarting": JobState.RUNNING,
    "Completing": JobState.RUNNING,
    "Terminating": None,
    "Aborting": None,
    "Completed": JobState.SUCCEEDED,
    "Failed": JobState.FAILED,
    "Terminated": JobState.STOPPED,  # by us (a stop) or by a policy: told apart by stop_requested
    "Aborted": JobState.STOPPED,
}


class VolcanoRequest(BaseModel):
    """What `send` does, in order: upload the code, write the storage Secret, create the manifests."""

    namespace: str
    code: CodePlan | None
    secret: SecretPlan | None
    manifests: list[dict[str, Any]]  # ConfigMaps (the Ascend rank table, large hyperparameters), then the Job

    def command_line(self) -> str:
        """The same as shell commands: what `launcher render` prints after the JSON."""
        lines = [
            shlex.join(["launcher", "data", "sync", str(u.source), u.destination, "--exclude", ",".join(u.exclude)])
            + f"  # {len(u.files)} files: also as .gitignore says, no credentials, no links out of the folder"
            for u in (self.code.uploads if self.code else [])
        ]
        if self.secret is not None:
            lines.append(
                f"kubectl -n {self.namespace} create secret generic {self.secret.name} "
                + " ".join(f"--from-literal={k}=***" for k in self.secret.keys)
                + f"  # values from {self.secret.source}; then owned by the Job, deleted with it"
            )
        documents = yaml.safe_dump_all(self.manifests, sort_keys=False)
        lines.append(f"kubectl -n {self.namespace} create -f - <<'EOF'\n{documents}EOF")
        return "\n".join(lines)


def _time(text: str | None) -> float | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


def _pod_failure(pods: list[Any]) -> tuple[int | None, str]:
    """Exit code and reason of the first trainer container that ended badly."""
    for pod in sorted(pods, key=lambda p: p.metadata.name):
        for status in (pod.status.container_statuses or []) if pod.status else []:
            ended = status.state.terminated if status.state else None
            if status.name == CONTAINER and ended is not None and ended.exit_code:
                detail = ended.message or ended.reason or "exited"
                return ended.exit_code, f"{pod.metadata.name}: {detail} (exit {ended.exit_code})"
    return None, ""


def remote_status(job: dict[str, Any], pods: list[Any], stop_requested: bool) -> RemoteStatus | None:
    state_of = job.get("status", {}).get("state", {})
    phase = state_of.get("phase") or "Pending"
    state = PHASES.get(phase)
    if state is None:
        if phase not in PHASES:
            logger.debug("Volcano phase {!r} not mapped", phase)
        return None
    exit_code, reason = _pod_failure(pods)
    status = job.get("status", {})
    if state is JobState.STOPPED and not stop_requested:
        state = JobState.FAILED  # ended by a policy (e.g. AbortJob on bad input), not by us
        reason = reason or f"Volcano {phase.lower()} the job"
    if state is JobState.STOPPED:
        reason = "stopped"
    if state is JobState.FAILED:
        message = state_of.get("message") or state_of.get("reason") or ""
        reason = "; ".join(filter(None, [reason, message])) or f"Volcano job {phase}"
        if status.get("retryCount"):
            reason += f" (after {status['retryCount']} restarts)"
    if state is JobState.SUCCEEDED:
        exit_code = 0
    running = [c for c in status.get("conditions") or [] if c.get("status") == "Running"]
    started = _time(running[0].get("lastTransitionTime")) if running else None
    ended = _time(state_of.get("lastTransitionTime")) if state.terminal else None
    return RemoteStatus(
        state=state, phase=phase, exit_code=exit_code, reason=reason, started_at=started, ended_at=ended
    )


class VolcanoHandle(RemoteHandle):
    """The Job's name and cluster (namespace, kubeconfig, context) and what it owns: ConfigMaps and a Secret."""

    name: str
    namespace: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    config_maps: list[str] = []
    secret: str | None = None
    uid: str | None = None


class VolcanoBackend(RemoteBackend):
    name: ClassVar[str] = "volcano"
    Options: ClassVar[type[BaseModel]] = VolcanoOptions
    Handle: ClassVar[type[JobHandle]] = VolcanoHandle
    options: VolcanoOptions

    def _api(self, namespace: str | None = None, kubeconfig: str | None = None, context: str | None = None) -> KubeAPI:
        retry = RetryPolicy(retries=self.options.api_retries, base_delay_s=self.options.api_retry_delay_s)
        return KubeAPI(
            kubeconfig or self.options.kubeconfig,
            context or self.options.context,
            namespace or self.options.namespace,
            retry,
            self.options.api_timeout_s,
        )

    def handle(self, record: JobRecord) -> VolcanoHandle:
        return read_handle(record, VolcanoHandle)

    def _api_for(self, handle: VolcanoHandle) -> KubeAPI:
        return self._api(handle.namespace, handle.kubeconfig, handle.context)

    def _storage(self, name: str) -> tuple[StorageAccess, SecretPlan | None]:
        """A Secret the user keeps (--storage_secret) is only read; otherwise the profile's keys (and session
        token) go into the job's own Secret. Without keys the pods get none (the cluster provides them)."""
        profile = storage.load_profile()
        endpoint = self.options.storage_endpoint or profile.endpoint
        if not endpoint:
            raise UserError(
                "pods cannot reach the embedded object store under LAUNCHER_HOME: configure a storage endpoint "
                "(S3_ENDPOINT or a profile) or give --storage_endpoint"
            )
        access = StorageAccess(endpoint=endpoint, region=profile.region)
        if self.options.storage_secret:
            keys = [*STORAGE_KEYS, TOKEN_KEY]
            return access.model_copy(
                update={"secret": self.options.storage_secret, "keys": keys, "optional_keys": [TOKEN_KEY]}
            ), None
        if not (profile.access_key_id and profile.secret_access_key):
            return access, None
        keys = [*STORAGE_KEYS, *([TOKEN_KEY] if profile.session_token else [])]
        secret = SecretPlan(
            name=storage_secret_name(name),
            namespace=self.options.namespace,
            keys=keys,
            source=f"storage profile {profile.name!r}",
        )
        return access.model_copy(update={"secret": secret.name, "keys": keys}), secret

    def render(self, job: JobSpec) -> VolcanoRequest:
        name = k8s_name(job.id)
        access, secret = self._storage(name)
        if self.options.code_in_image:
            code, code_url, recipe = None, None, job.recipe_relpath
        else:
            code = plan_code_upload(job, self.options.code_url)
            code_url, recipe = code.url, code.recipe
        template = pod_template(job, name, self.options, access, code_url, recipe)
        manifests: list[dict[str, Any]] = []
        if device_kind(job) == "ascend":
            manifests.append(to_wire(rank_table_configmap(name, self.options.namespace, self.options)))
        hyperparameters = hyperparameters_configmap(name, self.options.namespace, job)
        if hyperparameters is not None:
            manifests.append(to_wire(hyperparameters))
        document = volcano_job(job, name, self.options, template)
        problems = job_schema_errors(document)
        if problems:  # a bug or a bad option: say it before the cluster does
            raise UserError(f"the Volcano Job for {job.id} is not valid: {'; '.join(problems)}")
        manifests.append(document)
        return VolcanoRequest(namespace=self.options.namespace, code=code, secret=secret, manifests=manifests)

    def send(self, job: JobSpec, request: BaseModel) -> JobRecord:
        assert isinstance(request, VolcanoRequest)
        api = self._api(request.namespace)
        # The cluster's own check first (its CRD version, Volcano's webhook): a refused Job leaves nothing behind.
        api.check_job(request.manifests[-1])
        if request.code is not None:
            upload_code(request.code)
        name = request.manifests[-1]["metadata"]["name"]
        if request.secret is not None:  # before the Job: its pods must find the Secret when they start
            api.write_secret(request.secret.name, self._secret_values(request.secret), {LABEL_JOB: name, **MANAGED_BY})
        *config_maps, body = request.manifests
        for config_map in config_maps:
            api.apply_config_map(from_wire(config_map, "V1ConfigMap"))
        try:
            created = api.create_job(body, adopt=lambda found: _annotated_job_id(found) == job.id)
        except UserError:
            for config_map in config_maps:  # no Job will ever own them
                api.delete_config_map(config_map["metadata"]["name"])
            if request.secret is not None:
                api.delete_secret(request.secret.name)
            raise
        name = created["metadata"]["name"]
        for config_map in config_maps:
            api.own("ConfigMap", config_map["metadata"]["name"], created)
        if request.secret is not None:
            api.own("Secret", request.secret.name, created)
        logger.info("Volcano job {}/{} created", request.namespace, name)
        resources = job.recipe.resources
        handle = VolcanoHandle(
            name=name,
            namespace=request.namespace,
            kubeconfig=self.options.kubeconfig,
            context=self.options.context,
            config_maps=[c["metadata"]["name"] for c in config_maps],
            secret=request.secret.name if request.secret is not None else None,
            nodes=resources.nodes,
            ranks_per_node=resources.count,
            uid=created["metadata"].get("uid"),
        )
        return self.create_record(job, handle)

    @staticmethod
    def _secret_values(plan: SecretPlan) -> dict[str, str]:
        """Read from the profile now: a refreshed token is the one sent, and no value is kept in a request."""
        profile = storage.load_profile()
        found = {
            "ACCESS_KEY_ID": profile.access_key_id,
            "SECRET_ACCESS_KEY": profile.secret_access_key.get_secret_value() if profile.secret_access_key else None,
            TOKEN_KEY: profile.session_token.get_secret_value() if profile.session_token else None,
        }
        missing = [k for k in plan.keys if not found.get(k)]
        if missing:
            raise UserError(f"{plan.source} no longer has {', '.join(missing)}: cannot write Secret {plan.name}")
        return {k: str(found[k]) for k in plan.keys}

    def _refresh(self, api: KubeAPI, record: JobRecord, name: str, job: dict[str, Any] | None) -> JobRecord:
        if job is None:  # deleted: by our stop, or by someone else
            if record.stop_requested:
                seen = RemoteStatus(state=JobState.STOPPED, phase="Deleted", reason="stopped")
            else:
                seen = RemoteStatus(
                    state=JobState.FAILED, phase="Deleted", reason="the Volcano job was deleted outside the launcher"
                )
            return reconcile(self.store, record, seen)
        pods = api.pods(f"{LABEL_JOB}={name}")
        seen = remote_status(job, pods, record.stop_requested)
        return reconcile(self.store, record, seen) if seen else record

    def status(self, job_id: str) -> JobRecord:
        record = self.store.get(job_id)
        if record.state.terminal:
            return record
        handle = self.handle(record)
        api = self._api_for(handle)
        return self._refresh(api, record, handle.name, api.get_job(handle.name))

    def logs(self, job_id: str, follow: bool = False, rank: int = 0) -> Iterator[str]:
        record = self.store.get(job_id)
        handle = self.handle(record)
        nodes, per_node = handle.nodes, handle.ranks_per_node
        if not 0 <= rank < nodes * per_node:
            raise UserError(f"job {record.id} has ranks 0..{nodes * per_node - 1}, not {rank}")
        pod = f"{handle.name}-{TASK}-{rank // per_node}"  # a pod is a node; its log holds all its ranks
        api = self._api_for(handle)
        if not follow:
            if self._started(api, handle.name, pod):
                yield from api.pod_log(pod, CONTAINER).splitlines(keepends=True)
            return
        shown: dict[str, int] = {}  # lines already yielded per pod uid: a broken stream is resumed, not repeated
        while True:
            uid = self._started(api, handle.name, pod)
            if uid is not None:
                skip = shown.get(uid, 0)
                for line in lines(api.follow_pod_log(pod, CONTAINER)):
                    if skip:
                        skip -= 1
                        continue
                    shown[uid] = shown.get(uid, 0) + 1
                    yield line
            if self.status(record.id).state.terminal:
                return
            time.sleep(self.options.poll_interval_s)

    @staticmethod
    def _started(api: KubeAPI, name: str, pod: str) -> str | None:
        """The pod's uid once its trainer container has started (a log exists), else None."""
        for found in api.pods(f"{LABEL_JOB}={name}"):
            if found.metadata.name != pod or not found.status:
                continue
            for status in found.status.container_statuses or []:
                if status.name == CONTAINER and status.state and (status.state.running or status.state.terminated):
                    return found.metadata.uid
        return None

    def _terminate(self, handle: VolcanoHandle) -> None:  # type: ignore[override]
        """Delete the Job in the foreground (its pods get SIGTERM and their grace period) and its ConfigMaps and
        Secret. `status` says STOPPED once the Job is gone."""
        api = self._api_for(handle)
        api.delete_job(handle.name)
        for config_map in handle.config_maps:
            api.delete_config_map(config_map)  # owned by the Job too; deleting here covers clusters with GC lag
        if handle.secret:
            api.delete_secret(handle.secret)

    def _account(self, handle: VolcanoHandle) -> tuple[str, str, str]:  # type: ignore[override]
        return (handle.namespace or "", handle.kubeconfig or "", handle.context or "")

    def _refresh_account(  # type: ignore[override]
        self, account: tuple[str, str, str], jobs: list[tuple[JobRecord, VolcanoHandle]]
    ) -> dict[str, JobRecord]:
        """One label-selected list of the namespace."""
        namespace, kubeconfig, context = account
        api = self._api(namespace or None, kubeconfig or None, context or None)
        selector = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
        found = {j["metadata"]["name"]: j for j in api.list_jobs(selector)}
        return {r.id: self._refresh(api, r, handle.name, found.get(handle.name)) for r, handle in jobs}


def _annotated_job_id(found: dict[str, Any]) -> str | None:
    return found.get("metadata", {}).get("annotations", {}).get(ANNOTATION_JOB_ID)


__all__ = ["KubeError", "VolcanoBackend", "VolcanoOptions", "VolcanoRequest"]
