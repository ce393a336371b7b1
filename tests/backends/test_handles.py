"""Each backend's handle is a typed model; records written before it (plain JSON in SQLite) still load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from launcher.backends import backend_class, get_backend
from launcher.backends.docker.backend import DockerHandle
from launcher.backends.local.backend import LocalHandle
from launcher.backends.modelarts.backend import ModelArtsHandle
from launcher.backends.volcano.backend import VolcanoHandle
from launcher.errors import UserError
from launcher.jobs import JobRecord, JobState, JobStore

# Handles exactly as the launcher stored them before they were typed (one per backend, keys as they were written).
OLD_HANDLES: dict[str, dict[str, Any]] = {
    "local": {
        "job_dir": "/h/jobs/j",
        "logs": ["/h/jobs/j/job.log", "/h/jobs/j/job-rank-1.log"],
        "supervisor_pid": 11, "supervisor_pgid": 11, "supervisor_start": 500,
        "pid": 12, "pgid": 12, "start": 501,
    },
    "docker": {
        "container": "launcher-j", "docker_host": "unix:///var/run/docker.sock", "job_dir": "/h/jobs/j",
        "logs": ["/h/jobs/j/job.log"], "grace_seconds": 30.0, "memory_bytes": None, "keep_container": False,
        "credentials_file": None, "container_id": "abc123",
    },
    "modelarts": {
        "training_job_id": "2681c683", "name": "j", "endpoint": "https://modelarts.example", "region": "cn-north-4",
        "project_id": "p", "code_url": "obs://b/code/", "nodes": 2, "ranks_per_node": 8,
        "tasks": ["worker-0", "worker-1"],
    },
    "volcano": {
        "name": "j", "namespace": "train", "kubeconfig": None, "context": None, "config_maps": ["rings-config-j"],
        "secret": None, "nodes": 2, "ranks_per_node": 8, "uid": "u-1",
    },
}  # fmt: skip
MODELS = {"local": LocalHandle, "docker": DockerHandle, "modelarts": ModelArtsHandle, "volcano": VolcanoHandle}


def stored(store: JobStore, backend: str, handle: Any, job_id: str = "j-1") -> JobRecord:
    store.create(JobRecord(id=job_id, name="j", recipe="r.yaml", backend=backend, handle=handle))
    store.transition(job_id, JobState.RUNNING)
    return store.get(job_id)


@pytest.mark.parametrize("name", sorted(OLD_HANDLES))
def test_records_written_before_the_typed_handles_still_load(name: str) -> None:
    record = stored(JobStore(), name, {**OLD_HANDLES[name], "added_by_a_newer_launcher": 1})
    handle = get_backend(name, JobStore()).handle(record)
    assert type(handle) is MODELS[name] and backend_class(name).Handle is MODELS[name]
    assert handle.model_dump(mode="json", exclude_none=True, exclude={"cancelled_at"}) == {
        k: v for k, v in OLD_HANDLES[name].items() if v is not None
    }


@pytest.mark.parametrize("name", sorted(OLD_HANDLES))
@pytest.mark.parametrize("garbage", [{}, {"logs": "x", "name": 3, "training_job_id": [], "container": {}}])
def test_a_damaged_handle_is_one_clear_error_naming_the_job(name: str, garbage: dict[str, Any]) -> None:
    store = JobStore()
    stored(store, name, garbage, job_id="broken-1")
    backend = get_backend(name, store)
    with pytest.raises(UserError, match=rf"^job broken-1: its stored {name} handle cannot be read \(.+\)") as caught:
        backend.status("broken-1")
    assert "\n" not in str(caught.value)
    with pytest.raises(UserError, match="broken-1"):
        backend.cancel("broken-1")


def test_list_shows_a_damaged_record_as_last_known_and_the_others_reconciled(tmp_path: Path) -> None:
    store = JobStore()
    stored(store, "local", {"logs": 5}, job_id="broken-1")
    stored(store, "local", {"job_dir": str(tmp_path), "logs": []}, job_id="lost-1")  # no process: lost
    listed = {r.id: r for r in get_backend("local", store).list()}
    assert listed["broken-1"].state is JobState.RUNNING
    assert listed["lost-1"].state is JobState.FAILED and listed["lost-1"].reason.startswith("lost")


def test_new_records_store_plain_json() -> None:
    handle = LocalHandle(job_dir=Path("/h/j"), logs=[Path("/h/j/job.log")], grace_seconds=5)
    assert handle.model_dump(mode="json", exclude_none=True) == {
        "job_dir": "/h/j", "logs": ["/h/j/job.log"], "grace_seconds": 5.0
    }  # fmt: skip
