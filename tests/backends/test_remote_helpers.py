"""The pieces both remote backends share: bounded retries with backoff, record reconciliation, the code upload."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import pytest

from launcher.backends.codeupload import plan_code_upload, upload_code
from launcher.backends.remote_records import RemoteStatus, reconcile
from launcher.jobs import JobRecord, JobState, JobStore
from launcher.paths import objects_root
from launcher.retry import RetryPolicy, call_with_retry, retry_after_s
from tests.backends.conftest import FIXTURES


class Busy(Exception):
    pass


class Refused(Exception):
    pass


def flaky(failures: list[Exception], result: str = "done"):
    calls = []

    def call() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return result

    return call, calls


def test_transient_errors_are_retried_then_succeed(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    monkeypatch.setattr("launcher.retry.time.sleep", pauses.append)
    call, calls = flaky([Busy(), Busy()])
    policy = RetryPolicy(retries=5, base_delay_s=1.0, max_delay_s=3.0)
    assert call_with_retry(call, policy=policy, transient=lambda e: isinstance(e, Busy), what="x") == "done"
    assert len(calls) == 3
    assert 0.5 <= pauses[0] <= 1.0 and 1.0 <= pauses[1] <= 2.0  # doubling, with jitter in the upper half


def test_retries_are_bounded_and_permanent_errors_immediate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("launcher.retry.time.sleep", lambda _s: None)
    call, calls = flaky([Busy()] * 5)
    with pytest.raises(Busy):
        call_with_retry(call, policy=RetryPolicy(retries=2), transient=lambda e: isinstance(e, Busy), what="x")
    assert len(calls) == 3
    call, calls = flaky([Refused()])
    with pytest.raises(Refused):
        call_with_retry(call, policy=RetryPolicy(retries=5), transient=lambda e: isinstance(e, Busy), what="x")
    assert len(calls) == 1


def test_retry_after_is_honoured_but_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    monkeypatch.setattr("launcher.retry.time.sleep", pauses.append)
    call, _ = flaky([Busy(), Busy()])
    waits = iter([2.5, 99.0])
    policy = RetryPolicy(retries=3, base_delay_s=0.01, max_delay_s=10.0)
    call_with_retry(call, policy=policy, transient=lambda e: True, retry_after=lambda e: next(waits), what="x")
    assert pauses == [2.5, 10.0]


def test_before_retry_can_adopt_what_the_failed_call_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("launcher.retry.time.sleep", lambda _s: None)
    call, calls = flaky([Busy(), Busy()])
    found = call_with_retry(call, policy=RetryPolicy(), transient=lambda e: True, what="x", before_retry=lambda: "made")
    assert found == "made" and len(calls) == 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": " 2.5 "}, 2.5),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past: retry now
        ({"Retry-After": "soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_header_in_seconds_or_as_a_date(headers: dict[str, str] | None, expected: float | None) -> None:
    assert retry_after_s(headers) == expected


def test_retry_after_as_a_future_date() -> None:
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (retry_after_s({"Retry-After": when}) or 0) <= 30


def test_storage_and_backends_share_one_policy() -> None:
    """The storage budget (0.25 s doubling to 8 s) and the backends' (1 s to 30 s) are settings of one policy."""
    storage = RetryPolicy(retries=5, base_delay_s=0.25, max_delay_s=8.0)
    assert storage.attempts == 6 and storage.budget_s == 0.25 + 0.5 + 1 + 2 + 4
    assert RetryPolicy().budget_s == 1 + 2 + 4 + 8 + 16
    assert all(0.125 <= storage.delay(1) <= 0.25 for _ in range(50)) and storage.delay(9) <= 8.0


def _record(store: JobStore, state: JobState = JobState.PENDING) -> JobRecord:
    store.create(JobRecord(id="j1", name="toy", recipe="r.yaml", backend="modelarts"))
    if state is not JobState.PENDING:
        store.transition("j1", state)
    return store.get("j1")


def test_a_job_over_before_we_looked_passes_through_running() -> None:
    store = JobStore()
    record = _record(store)
    done = reconcile(
        store,
        record,
        RemoteStatus(state=JobState.SUCCEEDED, phase="Completed", exit_code=0, started_at=100.0, ended_at=160.0),
    )
    assert done.state is JobState.SUCCEEDED and done.exit_code == 0
    assert (done.started_at, done.ended_at) == (100.0, 160.0)


def test_records_only_move_forward() -> None:
    store = JobStore()
    record = _record(store, JobState.RUNNING)
    assert reconcile(store, record, RemoteStatus(state=JobState.PENDING, phase="Restarting")).state is JobState.RUNNING
    failed = reconcile(store, record, RemoteStatus(state=JobState.FAILED, phase="Failed", exit_code=1, reason="boom"))
    assert (failed.state, failed.exit_code, failed.reason) == (JobState.FAILED, 1, "boom")
    assert reconcile(store, failed, RemoteStatus(state=JobState.SUCCEEDED, phase="Completed")).state is JobState.FAILED


def test_never_started_job_fails_from_pending() -> None:
    store = JobStore()
    failed = reconcile(
        store, _record(store), RemoteStatus(state=JobState.FAILED, phase="Failed", reason="CreateFailed")
    )
    assert failed.state is JobState.FAILED and failed.started_at is None


def test_code_upload_keeps_what_the_job_needs(make_job, tmp_path) -> None:
    job = make_job("modelarts")
    plan = plan_code_upload(job, "obs://code-bucket/some/where", extra_excludes=["toydata/*"])
    assert plan.url == "obs://code-bucket/some/where/" and plan.recipe == "toy_counter.yaml"
    assert [u.destination for u in plan.uploads] == [plan.url, plan.url + "launcher/", plan.url + "entry/"]
    upload_code(plan)
    root = objects_root() / "code-bucket" / "some" / "where"
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert {"toy_counter.yaml", "toyjobs/trainers.py", "entry/boot.py", "entry/pod_ranks.py", "entry/ranks.py"} <= files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc") or f.startswith("toydata/")]


def test_code_dir_under_tests_is_not_excluded(make_job) -> None:
    """A recipe kept in the repository's tests/ folder still ships: the tests/* exclude is dropped for it."""
    repo_recipe = FIXTURES / "toy_counter.yaml"
    job = make_job("modelarts", recipe=repo_recipe)
    recipe = job.recipe.model_copy(update={"trainer": "recipes.lenet.train:train"})  # a package the root holds
    job = job.model_copy(update={"code_dir": FIXTURES.parent.parent, "recipe": recipe})
    plan = plan_code_upload(job)
    assert plan.recipe == "tests/fixtures/toy_counter.yaml"
    assert "/tests/" not in plan.uploads[0].exclude and ".venv/" in plan.uploads[0].exclude
    assert "tests/fixtures/toy_counter.yaml" in plan.uploads[0].files
    assert len(plan.uploads) == 1  # the repository root has launcher/ and entry/ already


def test_caches_environments_and_history_stay_home(make_job, tmp_path) -> None:
    code = tmp_path / "project"
    for rel in (
        "recipe.yaml",
        "toyjobs/trainers.py",
        "toyjobs/__pycache__/trainers.cpython-311.pyc",
        ".git/config",
        ".venv/lib/site.py",
        "tests/test_x.py",
        "notes/a.pyc",
        "data/keep.txt",
    ):
        (code / rel).parent.mkdir(parents=True, exist_ok=True)
        (code / rel).write_text(rel)
    job = make_job("modelarts").model_copy(update={"code_dir": code, "recipe_path": code / "recipe.yaml"})
    plan = plan_code_upload(job, "obs://b/c/")
    upload_code(plan)
    root = objects_root() / "b" / "c"
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    top = {f for f in files if not f.startswith(("launcher/", "entry/"))}  # the packages are added beside it
    assert top == {"recipe.yaml", "toyjobs/trainers.py", "data/keep.txt"}
