"""ModelArts backend: a v2 training job running our entry script from code uploaded to OBS.

`render` builds the request body with the SDK's own model classes (`Job`, `JobAlgorithm`, `Spec`, ...) and keeps
it as the JSON the SDK puts on the wire; `send` uploads the code, checks the flavor, and posts exactly that body.
The job record's handle keeps the training job id and where it lives (endpoint, region, project), so status,
logs and stop work later from any launcher with the same credentials, whatever options that launcher was given.

Data and outputs: with `io=channels` (default) the job declares `data_url` as an input and `train_url` as an
output channel: ModelArts downloads the data and uploads the output folder at the end, and the entry sees the
platform's local paths. With `io=direct` the entry reads data_url and pushes to train_url itself while it runs, so
a job restarted after preemption (or by `launcher restart`) resumes from the last pushed checkpoint; the
container then needs OBS access of its own (the platform's S3_* variables or an agency).
"""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from huaweicloudsdkmodelarts.v1 import (
    Input,
    InputDataInfo,
    InputDataInfoObs,
    Job,
    JobAlgorithm,
    JobEngine,
    JobMetadata,
    Output,
    Parameters,
    Remote,
    RemoteObs,
    Spec,
    SpecResource,
)
from pydantic import BaseModel, ConfigDict, Field

from entry.args import DEFAULT_DATA_URL, DEFAULT_TRAIN_URL, json_or_text
from entry.contract import ENV_JOB_ID
from launcher import storage
from launcher.backends.base import JobHandle, read_handle
from launcher.backends.codeupload import CodePlan, plan_code_upload, upload_code
from launcher.backends.common import (
    HYPERPARAMETERS_FILE,
    MAX_INLINE_HYPERPARAMETERS,
    LineSplitter,
    hyperparameters_json,
    to_wire,
)
from launcher.backends.modelarts.api import (
    ENV_PROJECT,
    ModelArtsAPI,
    ModelArtsError,
    resolve_account,
    resolve_endpoint,
)
from launcher.backends.remote_records import RemoteBackend, RemoteHandle, RemoteStatus, reconcile
from launcher.errors import UserError
from launcher.jobs import JobRecord, JobState
from launcher.jobspec import JobSpec
from launcher.logs import logger
from launcher.retry import RetryPolicy

NAME_LIMIT = 64  # metadata.name: 1-64 letters, digits, '-' and '_'
ENTRY_ARGUMENTS = frozenset({"data_url", "train_url", "recipe", "hyperparameters", "push_interval", "stop_grace"})
# v2 status.phase -> our states; None: on its way to another state, the record waits for where it ends up.
PHASES: dict[str, JobState | None] = {
    "creating": JobState.PENDING,
    "pending": JobState.PENDING,
    "running": JobState.RUNNING,
    "terminating": None,
    "completed": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "abnormal": JobState.FAILED,
    "terminated": JobState.STOPPED,
}
FAILED_SECONDARY = frozenset({"createfailed", "terminatedfailed", "lost"})
# Hyperparameters too large for the command line (ModelArts passes each parameter as one `--name=value` argument;
# Linux refuses an argument over 128 KiB) go in this file of the code folder, `--hyperparameters=@<file>`. Relative:
# the entry runs in the code folder, as for the recipe's path.
HYPERPARAMETERS_IN_CODE = f".launcher/{HYPERPARAMETERS_FILE}"


class ModelArtsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flavor: str | None = Field(
        None, description="resource flavor id (spec.resource.flavor_id), e.g. modelarts.vm.cpu.8u"
    )
    region: str | None = Field(None, description="e.g. cn-north-4; default HUAWEICLOUD_SDK_REGION")
    project_id: str | None = Field(None, description="project of that region; default HUAWEICLOUD_SDK_PROJECT_ID")
    endpoint: str | None = Field(None, description="API endpoint; default the SDK's for the region")
    pool_id: str | None = Field(None, description="dedicated resource pool (then --flavor may be left out)")
    workspace_id: str | None = Field(None, description="ModelArts workspace; default the account's default")
    engine_id: str | None = Field(None, description="preset engine id, when no --image is given")
    engine_name: str | None = Field(None, description="preset engine name (with --engine_version)")
    engine_version: str | None = Field(None, description="preset engine version")
    code_url: str | None = Field(
        None, description="OBS folder for the code; default <train_url bucket>/launcher-code/<job>/code/"
    )
    io: Literal["channels", "direct"] = Field(
        "channels", description="channels: ModelArts moves data; direct: the entry does"
    )
    check_flavor: bool = Field(True, description="look the flavor up before creating the job")
    verify_ssl: bool = True
    api_retries: int = Field(5, ge=0, le=10, description="retries on 429/5xx/connection errors")
    api_retry_delay_s: float = Field(1.0, ge=0, description="first backoff, doubled each retry")
    api_timeout_s: float = Field(60.0, gt=0)
    poll_interval_s: float = Field(10.0, gt=0, description="between status/log polls when following")
    stop_timeout_s: float = Field(300.0, ge=0, description="how long `stop` waits for the job to end")


class ModelArtsRequest(BaseModel):
    """What `send` does: upload the code, then POST `body` to `url`."""

    method: Literal["POST"] = "POST"
    url: str
    region: str
    code: CodePlan
    body: dict[str, Any]
    files: dict[str, str] = Field(
        default_factory=dict, description="written into the code folder after the code (path inside it -> text)"
    )


def obs_path(url: str, folder: bool = False) -> str:
    """obs://bucket/key -> /bucket/key, the form the v2 API takes for OBS locations."""
    parsed = storage.parse_url(url)
    if parsed.scheme != "obs":
        raise UserError(f"ModelArts reads and writes OBS only: {url} is not an obs:// URL")
    path = f"/{parsed.bucket}/{parsed.key}"
    return path if not folder or path.endswith("/") else path + "/"


def job_name(job_id: str) -> str:
    """The id itself when it fits; otherwise the recipe part is shortened and the unique tail kept."""
    if len(job_id) <= NAME_LIMIT:
        return job_id
    head, tail = job_id[: -(NAME_LIMIT // 2)], job_id[-(NAME_LIMIT // 2) :]
    return head[: NAME_LIMIT - len(tail) - 1].rstrip("-_") + "-" + tail.lstrip("-_")


def parameter_value(value: Any) -> str:
    """Text the entry turns back into `value` (entry.args.json_or_text): strings that would parse as something else
    ('2', 'true') are quoted; every other type is JSON."""
    if isinstance(value, str) and json_or_text(value) == value:
        return value
    return json.dumps(value, separators=(",", ":"))


def _hyperparameter_parameters(job: JobSpec) -> list[Parameters]:
    """Each hyperparameter its own parameter (the console shows them; the entry validates them); the few whose
    names are the entry's own arguments travel in one --hyperparameters JSON document instead."""
    own = {k: v for k, v in job.hyperparameters.items() if k in ENTRY_ARGUMENTS}
    params = []
    if own:
        params.append(Parameters(name="hyperparameters", value=json.dumps(own, separators=(",", ":"), sort_keys=True)))
    params += [
        Parameters(name=k, value=parameter_value(v)) for k, v in sorted(job.hyperparameters.items()) if k not in own
    ]
    return params


def hyperparameters_document(job: JobSpec) -> str | None:
    """The whole hyperparameters document when, as parameters, they would not fit the command line; else None."""
    size = sum(len(f"--{p.name}={p.value}".encode()) + 1 for p in _hyperparameter_parameters(job))
    return hyperparameters_json(job) if size > MAX_INLINE_HYPERPARAMETERS else None


def job_parameters(job: JobSpec, recipe: str, io: str) -> list[Parameters]:
    """recipe (and the data/output URLs with io=direct), then the hyperparameters: as parameters, or when too large
    as `--hyperparameters=@<file in the code folder>` (the file is in the request's `files`)."""
    params = [Parameters(name="recipe", value=recipe)]
    if io == "direct":
        params += [Parameters(name="data_url", value=job.data_url), Parameters(name="train_url", value=job.train_url)]
    if hyperparameters_document(job) is None:
        return params + _hyperparameter_parameters(job)
    return params + [Parameters(name="hyperparameters", value=f"@{HYPERPARAMETERS_IN_CODE}")]


def _boot_command(job: JobSpec, code: CodePlan, params: list[Parameters], io: str) -> str:
    """A custom image runs a command, not a boot file: start the same entry, from where ModelArts puts the code
    (${MA_JOB_DIR}/<last folder of code_dir>), with the same arguments."""
    folder = code.url.rstrip("/").rsplit("/", 1)[-1]
    args = [f"--{p.name}={p.value}" for p in params]
    if io == "channels":
        args = [f"--data_url={DEFAULT_DATA_URL}", f"--train_url={DEFAULT_TRAIN_URL}", *args]
    script = f"entry/modelarts_entry_{job.entry}.py"
    return f'cd "${{MA_JOB_DIR}}/{folder}" && python {script} ' + " ".join(shlex.quote(a) for a in args)


def build_job(job: JobSpec, options: ModelArtsOptions, code: CodePlan) -> Job:
    """The v2 training job, field by field with the SDK's model classes."""
    resources = job.recipe.resources
    if not options.flavor and not options.pool_id:
        raise UserError("ModelArts needs a flavor: give --flavor <flavor id> (or --pool_id for a dedicated pool)")
    params = job_parameters(job, code.recipe, options.io)
    if resources.image:
        engine = JobEngine(image_url=resources.image)
        algorithm = JobAlgorithm(
            code_dir=obs_path(code.url, folder=True), command=_boot_command(job, code, params, options.io)
        )
    else:
        if not options.engine_id and not (options.engine_name and options.engine_version):
            raise UserError(
                "ModelArts needs an image or a preset engine: give --image <swr image>, "
                "or --engine_name and --engine_version (or --engine_id)"
            )
        engine = JobEngine(
            engine_id=options.engine_id, engine_name=options.engine_name, engine_version=options.engine_version
        )
        algorithm = JobAlgorithm(
            code_dir=obs_path(code.url, folder=True),
            boot_file=obs_path(f"{code.url}entry/modelarts_entry_{job.entry}.py"),
        )
    algorithm.engine = engine
    algorithm.parameters = params
    algorithm.environments = {ENV_JOB_ID: job.id, "PYTHONUNBUFFERED": "1"}
    if options.io == "channels":
        algorithm.inputs = [
            Input(
                name="data_url",
                local_dir=DEFAULT_DATA_URL,
                remote=InputDataInfo(obs=InputDataInfoObs(obs_url=obs_path(job.data_url, folder=True))),
            )
        ]
        algorithm.outputs = [
            Output(
                name="train_url",
                local_dir=DEFAULT_TRAIN_URL,
                remote=Remote(obs=RemoteObs(obs_url=obs_path(job.train_url, folder=True))),
            )
        ]
    else:  # the entry reads them itself; checked here so a typo fails before anything is uploaded
        obs_path(job.data_url)
        obs_path(job.train_url)
    return Job(
        kind="job",
        metadata=JobMetadata(
            name=job_name(job.id),
            description=f"launcher {job.id}: recipe {job.recipe.name}",
            workspace_id=options.workspace_id,
        ),
        algorithm=algorithm,
        spec=Spec(resource=SpecResource(flavor_id=options.flavor, node_count=resources.nodes, pool_id=options.pool_id)),
    )


def remote_status(details: Any, stop_requested: bool) -> RemoteStatus | None:
    """Our reading of a v2 job (ShowTrainingJobDetailsResponse or a JobResponse from the list); None when the
    phase is one we do not know (the record then stays as it is)."""
    status = details.status
    phase = (status.phase or "") if status else ""
    secondary = (status.secondary_phase or "") if status else ""
    state = JobState.FAILED if secondary.lower() in FAILED_SECONDARY else PHASES.get(phase.lower())
    if state is None:
        if phase.lower() not in PHASES:
            logger.debug("ModelArts phase {!r} ({!r}) not mapped", phase, secondary)
        return None
    exit_code, reason = None, ""
    failures = [t for t in (status.task_statuses or []) if t.exit_code]
    if failures:
        exit_code, reason = failures[0].exit_code, f"{failures[0].task}: {failures[0].message or 'failed'}"
    elif state is JobState.SUCCEEDED:
        exit_code = 0
    if state is JobState.FAILED and not reason:
        reason = f"ModelArts phase {phase}/{secondary}".rstrip("/")
    if state is JobState.STOPPED:
        reason = "stopped" if stop_requested else f"terminated on ModelArts ({secondary or phase})"
    started = status.start_time / 1000 if status.start_time else None
    ended = started + status.duration / 1000 if started is not None and status.duration and state.terminal else None
    return RemoteStatus(
        state=state, phase=phase, exit_code=exit_code, reason=reason, started_at=started, ended_at=ended
    )


class ModelArtsHandle(RemoteHandle):
    """The training job's id and the account it lives in, so any launcher with the credentials finds it again."""

    training_job_id: str
    name: str | None = None
    endpoint: str | None = None
    region: str | None = None
    project_id: str | None = None
    code_url: str | None = None
    tasks: list[str] = []  # the platform's task names (worker-0, ...), once it has said them


class ModelArtsBackend(RemoteBackend):
    name: ClassVar[str] = "modelarts"
    Options: ClassVar[type[BaseModel]] = ModelArtsOptions
    Handle: ClassVar[type[JobHandle]] = ModelArtsHandle
    options: ModelArtsOptions

    def _retry(self) -> RetryPolicy:
        return RetryPolicy(retries=self.options.api_retries, base_delay_s=self.options.api_retry_delay_s)

    def _api(
        self, endpoint: str | None = None, region: str | None = None, project_id: str | None = None
    ) -> ModelArtsAPI:
        account = resolve_account(
            region=region or self.options.region,
            endpoint=endpoint or self.options.endpoint,
            project_id=project_id or self.options.project_id,
            profile=storage.load_profile(),
        )
        return ModelArtsAPI(
            account, self._retry(), verify_ssl=self.options.verify_ssl, timeout_s=self.options.api_timeout_s
        )

    def handle(self, record: JobRecord) -> ModelArtsHandle:
        return read_handle(record, ModelArtsHandle)

    def _api_for(self, handle: ModelArtsHandle) -> ModelArtsAPI:
        return self._api(handle.endpoint, handle.region, handle.project_id)

    def render(self, job: JobSpec) -> ModelArtsRequest:
        endpoint, region = resolve_endpoint(self.options.region, self.options.endpoint, os.environ)
        project = self.options.project_id or os.environ.get(ENV_PROJECT) or "{project_id}"
        code = plan_code_upload(job, self.options.code_url)
        body = to_wire(build_job(job, self.options, code))
        document = hyperparameters_document(job)
        files = {HYPERPARAMETERS_IN_CODE: document} if document is not None else {}
        url = f"{endpoint}/v2/{project}/training-jobs"
        return ModelArtsRequest(url=url, region=region, code=code, body=body, files=files)

    def send(self, job: JobSpec, request: BaseModel) -> JobRecord:
        assert isinstance(request, ModelArtsRequest)
        api = self._api()
        if self.options.check_flavor and not self.options.pool_id:
            self._check_flavor(api, request.body["spec"]["resource"].get("flavor_id"))
        upload_code(request.code)
        for name, text in request.files.items():  # after the code: the upload leaves files it did not send
            storage.write_bytes(request.code.url + name, text.encode())
        created = api.create(request.body)
        training_job_id = created.metadata.id
        handle = ModelArtsHandle(
            training_job_id=training_job_id,
            name=request.body["metadata"]["name"],
            endpoint=api.account.endpoint,
            region=api.account.region,
            project_id=api.account.project_id,
            code_url=request.code.url,
            nodes=job.recipe.resources.nodes,
            ranks_per_node=job.recipe.resources.count,
        )
        logger.info("ModelArts training job {} created ({})", training_job_id, handle.name)
        record = self.create_record(job, handle)
        seen = remote_status(created, stop_requested=False)
        return reconcile(self.store, record, seen) if seen else record

    def _check_flavor(self, api: ModelArtsAPI, flavor: str | None) -> None:
        known = [f.flavor_id for f in api.flavors()]
        if flavor not in known:
            listed = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
            raise ModelArtsError(
                f"unknown flavor {flavor!r} in {api.account.region}; this project offers: {listed or 'none'}"
            )

    def status(self, job_id: str) -> JobRecord:
        record = self.store.get(job_id)
        if record.state.terminal:
            return record
        handle = self.handle(record)
        return self._apply(record, self._api_for(handle).show(handle.training_job_id))

    def _apply(self, record: JobRecord, details: Any) -> JobRecord:
        seen = remote_status(details, record.stop_requested)
        tasks = list(details.status.tasks or []) if details.status else []
        if tasks and tasks != self.handle(record).tasks:
            self.store.update(record.id, handle_update={"tasks": tasks})
            record = self.store.get(record.id)
        return reconcile(self.store, record, seen) if seen else record

    def logs(self, job_id: str, follow: bool = False, rank: int = 0) -> Iterator[str]:
        record = self.store.get(job_id)
        handle = self.handle(record)
        nodes, per_node = handle.nodes, handle.ranks_per_node
        if not 0 <= rank < nodes * per_node:
            raise UserError(f"job {record.id} has ranks 0..{nodes * per_node - 1}, not {rank}")
        node = rank // per_node  # ModelArts keeps one log per node (task), holding all its ranks
        api = self._api_for(handle)
        shown = 0  # bytes of the log already yielded
        lines = LineSplitter()
        while True:
            record = self.status(record.id)
            if record.state is JobState.PENDING:  # no task has started: there is no log yet
                if not follow:
                    return
                time.sleep(self.options.poll_interval_s)
                continue
            tasks = self.handle(record).tasks or [f"worker-{i}" for i in range(nodes)]
            preview = api.log_preview(handle.training_job_id, tasks[node])
            shown, new = _new_text(preview, shown)
            yield from lines.feed(new)
            if not follow or record.state.terminal:
                yield from lines.end()
                return
            time.sleep(self.options.poll_interval_s)

    def _terminate(self, handle: ModelArtsHandle) -> None:  # type: ignore[override]
        self._api_for(handle).stop(handle.training_job_id)

    def _account(self, handle: ModelArtsHandle) -> tuple[str, str, str]:  # type: ignore[override]
        return (handle.endpoint or "", handle.region or "", handle.project_id or "")

    def _refresh_account(  # type: ignore[override]
        self, account: tuple[str, str, str], jobs: list[tuple[JobRecord, ModelArtsHandle]]
    ) -> dict[str, JobRecord]:
        endpoint, region, project = account
        api = self._api(endpoint or None, region or None, project or None)
        found = {j.metadata.id: j for j in api.search(limit=50) if j.metadata}
        fresh: dict[str, JobRecord] = {}
        for r, handle in jobs:
            remote = found.get(handle.training_job_id)
            fresh[r.id] = self._apply(r, remote) if remote is not None else self.status(r.id)
        return fresh


def _new_text(preview: Any, shown: int) -> tuple[int, bytes]:
    """The part of a log preview not yet yielded. The preview is the tail of the log (`current_size` bytes of
    `full_size`), so what is new is the last `full_size - shown` bytes; a gap is said, not hidden. Bytes, not text:
    the cut may fall inside a character, which the line splitter decodes whole across polls."""
    data = (preview.content or "").encode("utf-8")
    full = preview.full_size if preview.full_size is not None else len(data)
    prefix = b""
    if full < shown:  # a new log: the job was restarted on the platform
        prefix, shown = b"[launcher: the log started over]\n", 0
    new = full - shown
    if new <= 0:
        return shown, prefix
    if new > len(data):
        prefix += f"[launcher: {new - len(data)} bytes of log not shown (ModelArts previews the tail only)]\n".encode()
        new = len(data)
    return full, prefix + data[len(data) - new :]
