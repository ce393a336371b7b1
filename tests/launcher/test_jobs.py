"""Job records: states, compare-and-set transitions, prefix lookup, and two processes writing at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from launcher.errors import JobNotFound, UserError
from launcher.jobs import InvalidTransition, JobRecord, JobState, JobStore


def record(job_id: str = "lenet-1", **fields) -> JobRecord:
    return JobRecord(id=job_id, name="lenet", recipe="recipes/lenet.yaml", backend="local", **fields)


def test_create_and_get_round_trip(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.create(record(hyperparameters={"epochs": 2, "flag": False}, handle={"pid": 12}))
    got = store.get("lenet-1")
    assert got.state is JobState.PENDING
    assert got.hyperparameters == {"epochs": 2, "flag": False}  # types survive the trip
    assert got.handle == {"pid": 12}


def test_duplicate_id_is_a_user_error(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.create(record())
    with pytest.raises(UserError, match="already exists"):
        store.create(record())


def test_lifecycle_sets_times_and_exit_code(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.create(record())
    assert store.transition("lenet-1", JobState.RUNNING)
    assert store.get("lenet-1").started_at is not None
    assert store.transition("lenet-1", JobState.FAILED, exit_code=3, reason="exit code 3")
    got = store.get("lenet-1")
    assert (got.state, got.exit_code, got.reason) == (JobState.FAILED, 3, "exit code 3")
    assert got.ended_at is not None and got.duration is not None


def test_terminal_states_never_change(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.create(record())
    store.transition("lenet-1", JobState.RUNNING)
    assert store.transition("lenet-1", JobState.SUCCEEDED, exit_code=0)
    assert not store.transition("lenet-1", JobState.STOPPED)
    assert not store.transition("lenet-1", JobState.FAILED)
    assert store.get("lenet-1").state is JobState.SUCCEEDED


def test_running_cannot_go_back_to_pending(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.create(record())
    store.transition("lenet-1", JobState.RUNNING)
    with pytest.raises(InvalidTransition):
        store.transition("lenet-1", JobState.PENDING)
    assert not store.transition("lenet-1", JobState.RUNNING)  # RUNNING -> RUNNING is not a transition


def test_pending_may_be_stopped_before_it_runs(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.create(record())
    assert store.transition("lenet-1", JobState.STOPPED)
    assert not store.transition("lenet-1", JobState.RUNNING)


def test_update_refuses_state_and_unknown_fields(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.create(record())
    with pytest.raises(InvalidTransition):
        store.update("lenet-1", state="SUCCEEDED")
    with pytest.raises(ValueError, match="unknown job fields"):
        store.update("lenet-1", pid=3)


def test_lookup_by_unique_prefix(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.create(record("lenet-20260101-aaaa"))
    store.create(record("lenet-20260101-abbb"))
    assert store.get("lenet-20260101-aa").id == "lenet-20260101-aaaa"
    with pytest.raises(UserError, match="ambiguous"):
        store.get("lenet-20260101-a")
    with pytest.raises(JobNotFound, match="no job 'gitloss'"):
        store.get("gitloss")
    with pytest.raises(JobNotFound):
        store.get("lenet_")  # '_' is literal, not a LIKE wildcard


def test_list_filters_by_backend_newest_first(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.create(record("a", created_at=1.0))
    store.create(record("b", created_at=2.0))
    store.create(JobRecord(id="c", name="x", recipe="r", backend="docker", created_at=3.0))
    assert [r.id for r in store.list()] == ["c", "b", "a"]
    assert [r.id for r in store.list("local")] == ["b", "a"]


def _hammer(path: str, worker: int, count: int) -> None:
    store = JobStore(Path(path))
    for i in range(count):
        job_id = f"w{worker}-{i}"
        store.create(record(job_id))
        store.transition(job_id, JobState.RUNNING)
        store.update(job_id, handle={"worker": worker, "i": i})
        # Both workers race to end every job of worker 0: exactly one wins each.
        store.transition(f"w0-{i}", JobState.SUCCEEDED if worker else JobState.STOPPED)


def test_two_processes_at_once_lose_no_update(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    JobStore(path)
    count = 60
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_hammer, args=(str(path), w, count)) for w in (0, 1)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    store = JobStore(path)
    records = {r.id: r for r in store.list(limit=1000)}
    assert len(records) == 2 * count
    for i in range(count):
        assert records[f"w1-{i}"].handle == {"worker": 1, "i": i}
        assert records[f"w0-{i}"].state in (JobState.SUCCEEDED, JobState.STOPPED)
        assert records[f"w0-{i}"].ended_at is not None


def test_empty_prefix_matches_no_job_not_even_the_only_one(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.create(record("lenet-20260101-aaaa"))
    with pytest.raises(UserError, match="give a job id"):
        store.get("")


def test_prefix_matching_is_case_sensitive(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.create(record("lenet-20260101-aaaa"))
    with pytest.raises(JobNotFound):
        store.get("LENET")
    with pytest.raises(JobNotFound):
        store.get("lenet-20260101-AA")
    assert store.get("lenet-2026").id == "lenet-20260101-aaaa"
    with pytest.raises(JobNotFound):
        store.get("lenet%")  # '%' is literal, not a wildcard


def test_handle_update_merges_keys_and_none_removes_one(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.create(record(handle={"job_dir": "/j", "logs": ["/j/job.log"]}))
    store.update("lenet-1", handle_update={"supervisor_pid": 7})
    assert store.transition("lenet-1", JobState.RUNNING, handle_update={"pid": 8, "pgid": 8, "job_dir": None})
    assert store.get("lenet-1").handle == {"logs": ["/j/job.log"], "supervisor_pid": 7, "pid": 8, "pgid": 8}
    with pytest.raises(ValueError, match="not both"):
        store.update("lenet-1", handle={}, handle_update={"a": 1})


def _add_handle_keys(path: str, worker: int, count: int, start) -> None:  # noqa: ANN001 - a multiprocessing Event
    store = JobStore(Path(path))
    start.wait(30)
    for i in range(count):
        # What the CLI (supervisor_pid) and the supervisor (pid/pgid) do: each adds only its own keys.
        store.update("lenet-1", handle_update={f"w{worker}-{i}": i})


def test_two_processes_adding_handle_keys_lose_none(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    JobStore(path).create(record(handle={"job_dir": "/j"}))
    count = 150
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    workers = [ctx.Process(target=_add_handle_keys, args=(str(path), w, count, start)) for w in (0, 1)]
    for w in workers:
        w.start()
    start.set()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    handle = JobStore(path).get("lenet-1").handle
    assert handle.pop("job_dir") == "/j"
    assert handle == {f"w{w}-{i}": i for w in (0, 1) for i in range(count)}
