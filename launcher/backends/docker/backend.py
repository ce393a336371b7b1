"""Docker backend: the entry boot script in a container, on the Docker SDK for Python.

`render` returns the full container spec (and `command_line()` the equivalent `docker run`, secrets masked);
`send` checks the host (device files, driver folders, image), creates and starts exactly that container. The
container sees the same contract as a local process (shared/DESIGN.md): the project and the code dir mounted
read-only (or baked into the image, `--code image`), the job folder (data cache, output dir) and the embedded
object store mounted read-write, LAUNCHER_* / RANK_* / DEVICE_ID variables, and it runs as the caller's uid:gid
so that every file it leaves in a mounted folder is the caller's.

There is no supervisor process: the daemon keeps the container's state, exit code and OOM flag, so `status`
reconciles the job record with the container whenever anyone asks (`launcher status/list/logs -f`, even long
after the CLI that submitted it died) and records the end once: the log saved beside the job, the container
removed. `cancel` sends SIGTERM (the entry pushes its outputs) and returns; the first `status` after the grace
period sends SIGKILL, as `docker stop` would without holding the caller for the grace period.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from entry.contract import (
    ENV_HOME,
    ENV_JOB_ID,
    ENV_LOCAL_RANK,
    ENV_LOCAL_SIZE,
    ENV_WORK_DIR,
    RANKS_RESULT_FILE,
    REQUEST_FILE,
)
from entry.credentials import CREDENTIALS_IN_CONTAINER, ENV_CREDENTIALS_FILE
from entry.datacache import cache_root
from entry.failure import FAILURE_FILE, describe_exit
from entry.ranks import RankSpec, RanksSpec
from launcher.backends.base import Backend, JobHandle, read_handle
from launcher.backends.common import distributed_env, entry_script, hyperparameters_argument, lines, rank_log_name
from launcher.backends.devices import DeviceRequest
from launcher.backends.docker.client import DaemonUnreachable, api_message, connect, daemon_url
from launcher.backends.docker.devices import BindMount, check_host, container_devices, rank_env
from launcher.backends.docker.images import (
    CODE_IN_CONTAINER,
    PROJECT_IN_CONTAINER,
    PROJECT_ROOT,
    code_plan,
    dependencies_plan,
    ensure_image,
    flavor_of,
)
from launcher.backends.docker.spec import (
    DockerOptions,
    DockerRequest,
    Ulimit,
    human_size,
    parse_size,
    shown_environment,
)
from launcher.errors import UserError
from launcher.jobs import JobRecord, JobState, JobStore
from launcher.jobspec import JobSpec
from launcher.paths import jobs_root, launcher_home, objects_root, private_dir, touch_private, write_private

if TYPE_CHECKING:
    import docker

RANKS_FILE = "ranks.json"
# Where things are inside the container.
JOB_IN_CONTAINER = "/job"  # the job folder: work/ (data cache, output dir), rank logs, rank table
HOME_IN_CONTAINER = "/launcher"  # LAUNCHER_HOME: objects/ (the embedded store) and profiles.toml
RECIPE_IN_CONTAINER = "/recipe"  # a recipe file that lives outside its code dir
LABEL_JOB = "launcher.job"
# What a job may need to reach its object store, passed through from the caller's environment: settings in the
# container's environment; keys and tokens in a private file mounted read-only (`docker inspect` shows the
# environment to anyone who may use the daemon), which the entry loads (entry/credentials.py).
STORAGE_ENV = (
    "S3_ENDPOINT", "S3_USE_HTTPS", "S3_VERIFY_SSL", "S3_REGION", "S3_ADDRESSING_STYLE",
    "S3_LIST_VERSION", "S3_CHECKSUM", "AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
    "AWS_REGION", "AWS_DEFAULT_REGION", "LAUNCHER_STORAGE_PROFILE", "LAUNCHER_S3_MAX_ATTEMPTS",
)  # fmt: skip
CREDENTIAL_ENV = (
    "ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN", "SECURITY_TOKEN", "S3_SECURITY_TOKEN",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
)  # fmt: skip
CREATING_GRACE = 120.0  # a PENDING job without a container yet may still be in `send`


def caller_user() -> str:
    return f"{os.getuid()}:{os.getgid()}"


def _storage_env() -> dict[str, str]:
    return {name: os.environ[name] for name in STORAGE_ENV if os.environ.get(name)}


def credentials_path(job_id: str) -> Path:
    """Host side of the job's credentials file: outside the job folder (mounted read-write), removed at the end."""
    return launcher_home() / "secrets" / f"{job_id}.json"


class DockerHandle(JobHandle):
    """The container (by name, then by id once made), its daemon, and what the end needs: logs, limits."""

    container: str
    container_id: str | None = None
    docker_host: str | None = None
    job_dir: Path
    logs: list[Path]
    grace_seconds: float = 30.0
    memory_bytes: int | None = None
    keep_container: bool = False
    credentials_file: Path | None = None


def _remove_credentials(handle: DockerHandle) -> None:
    if handle.credentials_file is not None:
        handle.credentials_file.unlink(missing_ok=True)


def _timestamp(text: str | None) -> float | None:
    """Docker's RFC 3339 times (nanoseconds, 'Z'); None for its zero time."""
    if not text or text.startswith("0001-"):
        return None
    main, _, fraction = text.rstrip("Z").partition(".")
    stamp = datetime.fromisoformat(main + "+00:00").timestamp()
    return stamp + (float("0." + fraction) if fraction else 0.0)


class DockerBackend(Backend):
    name: ClassVar[str] = "docker"
    Options: ClassVar[type[BaseModel]] = DockerOptions
    Handle: ClassVar[type[JobHandle]] = DockerHandle
    options: DockerOptions

    def __init__(self, store: JobStore, options: BaseModel) -> None:
        super().__init__(store, options)
        self._clients: dict[tuple[str | None, float | None], docker.DockerClient] = {}

    def _client(self, docker_host: str | None, timeout: float | None = 120.0) -> docker.DockerClient:
        """One client a daemon and timeout: `logs -f` asks for the job's status several times a second."""
        key = (docker_host, timeout)
        if key not in self._clients:
            self._clients[key] = connect(docker_host, timeout)
        return self._clients[key]

    def handle(self, record: JobRecord) -> DockerHandle:
        return read_handle(record, DockerHandle)

    def _client_for(self, handle: DockerHandle) -> docker.DockerClient:
        return self._client(handle.docker_host, 120.0)

    # --- render --------------------------------------------------------------------------------------------------

    def render(self, job: JobSpec) -> DockerRequest:
        o = self.options
        resources = job.recipe.resources
        if resources.nodes != 1:
            raise UserError("the docker backend runs on one machine: nodes must be 1 (use volcano or modelarts)")
        device = DeviceRequest.parse(resources.device)
        cards = device.per_rank(resources.count)
        devices = container_devices(device, cards, o.host_root, o.ascend_mounts, o.ascend_runtime)
        job_dir = jobs_root() / job.id
        image = resources.image or self._default_image(job)
        mounts, recipe_arg = self._code_mounts(job)
        mounts += [
            BindMount(source=str(objects_root()), target=f"{HOME_IN_CONTAINER}/objects"),
            BindMount(source=str(job_dir), target=JOB_IN_CONTAINER),
            BindMount(source=str(cache_root()), target=f"{HOME_IN_CONTAINER}/cache/data"),  # the node's data cache
        ]
        profiles = launcher_home() / "profiles.toml"
        if profiles.is_file():
            mounts.append(BindMount(source=str(profiles), target=f"{HOME_IN_CONTAINER}/profiles.toml", read_only=True))
        credential_names = [name for name in CREDENTIAL_ENV if os.environ.get(name)]
        credentials_file = credentials_path(job.id) if credential_names else None
        if credentials_file is not None:
            mounts.append(BindMount(source=str(credentials_file), target=CREDENTIALS_IN_CONTAINER, read_only=True))
        mounts += devices.mounts + [BindMount.parse(v) for v in o.volumes]
        common, per_rank, files = distributed_env(device.kind, cards, Path(JOB_IN_CONTAINER))
        environment = {**self._environment(job, len(cards)), **devices.env, **common}
        if credentials_file is not None:
            environment[ENV_CREDENTIALS_FILE] = CREDENTIALS_IN_CONTAINER
        argv = [
            o.python,
            f"{PROJECT_IN_CONTAINER}/entry/{entry_script(job.entry).name}",
            f"--data_url={job.data_url}",
            f"--train_url={job.train_url}",
            f"--recipe={recipe_arg}",
            hyperparameters_argument(job, JOB_IN_CONTAINER, files),
        ]
        log_paths = [job_dir / rank_log_name(r) for r in range(len(cards))]  # rank 0's: saved from the container

        def rank_vars(r: int) -> dict[str, str]:
            return {"RANK_ID": str(r), ENV_LOCAL_RANK: str(r), **rank_env(device, cards, r), **per_rank[r]}

        if len(cards) == 1:
            environment.update(rank_vars(0))
            command = argv
        else:  # all ranks in one container, started by entry/ranks.py inside it
            ranks = RanksSpec(
                argv=argv,
                ranks=[
                    RankSpec(rank=r, env=rank_vars(r), log_path=None if r == 0 else f"{JOB_IN_CONTAINER}/{p.name}")
                    for r, p in enumerate(log_paths)
                ],
                result_file=f"{JOB_IN_CONTAINER}/{RANKS_RESULT_FILE}",
            )
            files[RANKS_FILE] = ranks.model_dump_json(indent=2)
            command = [o.python, "-m", "entry.ranks", f"{JOB_IN_CONTAINER}/{RANKS_FILE}"]
        made_by_send = {str(job_dir), str(objects_root()), str(cache_root()), str(credentials_file)}
        required = devices.required + [m.source for m in mounts if m.source not in made_by_send]
        return DockerRequest(
            job_id=job.id,
            docker_host=daemon_url(o.docker_host),
            image=image,
            pull=o.pull,
            name=f"launcher-{job.id}",
            command=command,
            working_dir=CODE_IN_CONTAINER,
            user=o.user or caller_user(),
            environment=environment,
            mounts=mounts,
            devices=devices.devices,
            gpus=devices.gpus,
            runtime=devices.runtime,
            network_mode=o.network,
            init=o.init,
            memory_bytes=parse_size(o.memory) if o.memory else None,
            shm_size=o.shm_size,
            ulimits=[Ulimit.parse(u) for u in o.ulimits],
            cap_add=o.cap_add,
            privileged=o.privileged,
            group_add=o.group_add,
            labels={LABEL_JOB: job.id, "launcher.recipe": job.recipe.name},
            job_dir=job_dir,
            files=files,
            credentials_file=credentials_file,
            credential_names=credential_names,
            log_paths=log_paths,
            required_host_paths=required,
            grace_seconds=o.grace_seconds,
            keep_container=o.keep_container,
        )

    def _environment(self, job: JobSpec, ranks: int) -> dict[str, str]:
        """The contract every rank sees (shared/DESIGN.md), with container paths."""
        return {
            **_storage_env(),
            **self.options.env,
            ENV_JOB_ID: job.id,
            "JOB_ID": job.id,
            ENV_HOME: HOME_IN_CONTAINER,
            ENV_WORK_DIR: f"{JOB_IN_CONTAINER}/work",
            "PYTHONPATH": f"{CODE_IN_CONTAINER}:{PROJECT_IN_CONTAINER}",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",  # the code dir is read-only, and not this interpreter's to fill
            "HOME": "/tmp",  # the caller's uid has no home in the image; Keras and matplotlib want one
            "RANK_SIZE": str(ranks),
            ENV_LOCAL_SIZE: str(ranks),
        }

    def _default_image(self, job: JobSpec) -> str:
        """The tag `launcher build` gives this recipe's image (so build, then submit, just works)."""
        flavor = flavor_of(job.recipe.resources.device)
        try:
            dependencies = dependencies_plan(flavor)
        except UserError as error:
            raise UserError(f"the docker backend needs an image: {error}; or pass --image") from None
        if self.options.code == "image":
            return code_plan(dependencies.tag, job.recipe.name, job.code_dir).tag
        return dependencies.tag

    def _code_mounts(self, job: JobSpec) -> tuple[list[BindMount], str]:
        """The project and code dir mounts (none when the image holds them), and the --recipe the entry gets."""
        relative = job.recipe_relpath
        inside = not Path(relative).is_absolute()
        if self.options.code == "image":
            if not inside:
                raise UserError(f"with --code image the recipe must be inside its code dir {job.code_dir}")
            return [], relative
        mounts = [
            BindMount(source=str(PROJECT_ROOT), target=PROJECT_IN_CONTAINER, read_only=True),
            BindMount(source=str(job.code_dir), target=CODE_IN_CONTAINER, read_only=True),
        ]
        if inside:
            return mounts, relative
        target = f"{RECIPE_IN_CONTAINER}/{job.recipe_path.name}"
        mounts.append(BindMount(source=str(job.recipe_path), target=target, read_only=True))
        return mounts, target

    # --- send ----------------------------------------------------------------------------------------------------

    def send(self, job: JobSpec, request: BaseModel) -> JobRecord:
        assert isinstance(request, DockerRequest)
        check_host(
            request.required_host_paths, DeviceRequest.parse(job.recipe.resources.device).kind, self.options.host_root
        )
        client = self._client(request.docker_host, request.grace_seconds + 60)
        ensure_image(client, request.image, request.pull)
        self._prepare_job_dir(request)
        handle = DockerHandle(
            container=request.name,
            docker_host=request.docker_host,
            job_dir=request.job_dir,
            logs=request.log_paths,
            grace_seconds=request.grace_seconds,
            memory_bytes=request.memory_bytes,
            keep_container=request.keep_container,
            credentials_file=request.credentials_file,
        )
        self.create_record(job, handle)
        import docker

        try:
            container = client.containers.create(**request.create_kwargs())
        except docker.errors.APIError as error:
            self.store.transition(job.id, JobState.FAILED, reason=f"cannot create the container: {api_message(error)}")
            _remove_credentials(handle)
            raise UserError(f"cannot create the container for {job.id}: {api_message(error)}") from None
        self.store.update(job.id, handle_update={"container_id": container.id})
        try:
            container.start()
        except docker.errors.APIError as error:
            container.remove(force=True)
            message = _start_hint(api_message(error))
            self.store.transition(job.id, JobState.FAILED, reason=f"cannot start the container: {message}")
            _remove_credentials(handle)
            raise UserError(f"cannot start the container for {job.id}: {message}") from None
        if not self.store.transition(job.id, JobState.RUNNING):
            container.remove(force=True)  # stopped while it was being made: it never runs
        return self.status(job.id)

    def _prepare_job_dir(self, request: DockerRequest) -> None:
        """The folders the container mounts exist before it starts (Docker would make them root's), and belong to
        the user it runs as."""
        made: list[Path] = []
        for shared in (objects_root(), cache_root()):  # the container writes there too: new folders become its user's
            made += _missing_folders(shared)
            private_dir(shared)
        private_dir(request.job_dir)
        made.append(request.job_dir)
        for name, content in request.files.items():
            write_private(request.job_dir / name, content)
            made.append(request.job_dir / name)
        for path in request.log_paths[1:]:
            touch_private(path)
            made.append(path)
        if request.credentials_file is not None:  # values read now, never kept in the request
            private_dir(request.credentials_file.parent)
            values = {name: os.environ[name] for name in request.credential_names if os.environ.get(name)}
            write_private(request.credentials_file, json.dumps(values))
            made.append(request.credentials_file)
        shown = request.model_copy(update={"environment": shown_environment(request.environment)})
        write_private(request.job_dir / REQUEST_FILE, shown.model_dump_json(indent=2))
        uid, _, gid = request.user.partition(":")
        # A launcher run by root for another user hands that user the job folder, or the job could not write it.
        if os.geteuid() == 0 and uid.isdigit() and int(uid) != 0:
            for path in made:
                os.chown(path, int(uid), int(gid) if gid.isdigit() else -1)

    # --- status --------------------------------------------------------------------------------------------------

    def status(self, job_id: str) -> JobRecord:
        record = self.store.get(job_id)
        handle = self.handle(record)
        if not record.state.terminal:
            record = self._reconcile(record, handle)
        if record.state.terminal:
            _remove_credentials(handle)  # the container is gone or going: its keys leave the disk too
        return record

    def _reconcile(self, record: JobRecord, handle: DockerHandle) -> JobRecord:
        container = self._container(self._client_for(handle), handle)
        if container is None:
            return self._lost(record, handle)
        state = container.attrs["State"]
        if state["Status"] == "created":
            return self._not_started(record, container)
        if state["Status"] == "running" and handle.grace_over(handle.grace_seconds):
            self._signal(container, "SIGKILL")  # its grace period is over: forced, as `docker stop` does
        if record.state is JobState.PENDING:
            self.store.transition(
                record.id, JobState.RUNNING, started_at=_timestamp(state.get("StartedAt")) or time.time()
            )
        if state["Status"] in ("exited", "dead"):
            self._record_end(self.store.get(record.id), handle, container, state)
        return self.store.get(record.id)

    def _container(self, client: docker.DockerClient, handle: DockerHandle) -> Any | None:
        import docker

        try:
            return client.containers.get(handle.container_id or handle.container)
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as error:
            raise DaemonUnreachable(f"docker: {api_message(error)}") from None

    def _lost(self, record: JobRecord, handle: DockerHandle) -> JobRecord:
        creating = record.state is JobState.PENDING and handle.container_id is None
        if creating and time.time() - record.created_at < CREATING_GRACE:
            return record  # `send` is still making it
        if record.stop_requested:
            self.store.transition(record.id, JobState.STOPPED, reason="stopped (its container is gone)")
        else:
            self.store.transition(
                record.id,
                JobState.FAILED,
                reason=f"lost: container {handle.container} was removed before the job's end was recorded",
            )
        return self.store.get(record.id)

    def _not_started(self, record: JobRecord, container: Any) -> JobRecord:
        """A container made but not started: `send` starts it in a moment, or `send` died (or was stopped) first."""
        if not record.stop_requested and time.time() - record.created_at < CREATING_GRACE:
            return record
        container.remove(force=True)
        if record.stop_requested:
            self.store.transition(record.id, JobState.STOPPED, reason="stopped before it started")
        else:
            self.store.transition(record.id, JobState.FAILED, reason="lost: its container was made but never started")
        return self.store.get(record.id)

    def _record_end(self, record: JobRecord, handle: DockerHandle, container: Any, state: dict[str, Any]) -> None:
        """Save rank 0's log, record the outcome once (a compare-and-set: concurrent callers agree), then remove."""
        import docker

        log_path = handle.logs[0]
        partial = log_path.with_name(f"{log_path.name}.{os.getpid()}.partial")  # one a process: callers may race
        try:
            write_private(partial, container.logs(stdout=True, stderr=True))
            partial.replace(log_path)
        except docker.errors.NotFound:
            partial.unlink(missing_ok=True)  # another caller saved it and removed the container
        exit_code = int(state.get("ExitCode", -1))
        ended = {"exit_code": exit_code, "ended_at": _timestamp(state.get("FinishedAt")) or time.time()}
        if exit_code == 0:
            self.store.transition(record.id, JobState.SUCCEEDED, **ended)
        elif record.stop_requested:
            self.store.transition(record.id, JobState.STOPPED, reason="stopped", **ended)
        else:
            reason = _failure_reason(handle, exit_code, bool(state.get("OOMKilled")))
            self.store.transition(record.id, JobState.FAILED, reason=reason, **ended)
        if not handle.keep_container:
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass  # another caller recorded the end at the same time

    # --- logs ----------------------------------------------------------------------------------------------------

    def logs(self, job_id: str, follow: bool = False, rank: int = 0) -> Iterator[str]:
        record = self.store.get(job_id)
        handle = self.handle(record)
        if not 0 <= rank < len(handle.logs):
            raise UserError(f"job {record.id} has ranks 0..{len(handle.logs) - 1}, not {rank}")
        if rank == 0 and not record.state.terminal:
            # No read timeout: a job may print nothing for longer than any timeout while it syncs or trains.
            container = self._container(self._client(handle.docker_host, None), handle)
            if container is not None:
                yield from _followed(container, follow, record.id)
                if follow:
                    self.status(record.id)  # the container ended: record it now
                return
            record = self.status(record.id)
        yield from self.follow_file(record.id, handle.logs[rank], follow)

    # --- cancel and list -----------------------------------------------------------------------------------------

    def cancel(self, job_id: str) -> JobRecord:
        record = self.store.get(job_id)
        if record.state.terminal:
            return record
        self.store.update(record.id, stop_requested=True)
        handle = self.handle(record)
        container = self._container(self._client_for(handle), handle)
        if container is None:
            if record.state is JobState.PENDING:
                self.store.transition(record.id, JobState.STOPPED, reason="stopped before it started")
            return self.status(record.id)
        if handle.cancelled_at is None and container.attrs["State"]["Status"] == "running":
            # SIGTERM (the entry pushes and exits 143), without `docker stop`'s wait: the next `status` after the
            # grace period sends SIGKILL. Asked once: a second SIGTERM could cut the final push short.
            self.store.update(record.id, handle_update={"cancelled_at": time.time()})
            self._signal(container, "SIGTERM")
        return self.status(record.id)

    @property
    def poll_s(self) -> float:
        return 0.5

    def stop_timeout(self, job_id: str) -> float:
        return self.handle(self.store.get(job_id)).grace_seconds + 30.0

    @staticmethod
    def _signal(container: Any, name: str) -> None:
        import docker

        try:
            container.kill(signal=name)
        except docker.errors.NotFound:
            pass  # removed meanwhile: the end is recorded by whoever removed it
        except docker.errors.APIError as error:
            if error.status_code != 409:  # 409: it is not running any more, which is what was asked
                raise DaemonUnreachable(f"docker: {api_message(error)}") from None


def _failure_reason(handle: DockerHandle, exit_code: int, oom_killed: bool) -> str:
    job_dir = handle.job_dir
    entry_reason = _read_json(job_dir / "work" / "output" / "logs" / FAILURE_FILE).get("reason")
    ranks = _read_json(job_dir / RANKS_RESULT_FILE)
    where = f"rank {ranks['rank']}: " if len(handle.logs) > 1 and "rank" in ranks else ""
    if exit_code == 137 and (oom_killed or "out of memory (137)" in str(entry_reason)):
        memory = handle.memory_bytes
        limit = (
            f"over the container's memory limit of {human_size(memory)} (--memory)"
            if memory
            else "no memory limit was set: the host ran out"
        )
        return f"{where}killed: out of memory (137), {limit}"
    if entry_reason:
        return where + str(entry_reason)
    return where + _describe_exit(exit_code)


def _followed(container: Any, follow: bool, job_id: str) -> Iterator[str]:
    import requests

    try:
        yield from lines(container.logs(stdout=True, stderr=True, stream=True, follow=follow))
    except requests.exceptions.RequestException as error:
        raise DaemonUnreachable(f"lost the Docker daemon while reading the log of {job_id}: {error}") from None


def _describe_exit(exit_code: int) -> str:
    """A container's exit code in words; 128+N is signal N, as a shell reports it."""
    signals = {s.value for s in signal.Signals}
    return describe_exit(128 - exit_code if exit_code - 128 in signals else exit_code)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _start_hint(message: str) -> str:
    if 'device driver "nvidia"' in message or "unknown or invalid runtime name" in message:
        return message + " (install the NVIDIA Container Toolkit / Ascend Docker Runtime on the Docker host)"
    return message


def _missing_folders(path: Path) -> list[Path]:
    """`path` and its parents that do not exist yet, outermost first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing[::-1]
