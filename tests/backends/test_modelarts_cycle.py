"""submit -> status -> logs -> stop through the real SDK client against a local server that speaks the v2 API:
signed requests, documented paths and answers, retries on 429/5xx, one-line errors on 4xx."""

from __future__ import annotations

import pytest

from launcher.backends import get_backend
from launcher.backends.modelarts.backend import ModelArtsBackend
from launcher.errors import JobNotFound, UserError
from launcher.jobs import JobState, JobStore
from launcher.paths import objects_root
from tests.backends.conftest import PROJECT, REGION, SK
from tests.backends.fake_modelarts import FakeModelArts

FLAVOR = "modelarts.vm.cpu.8u"


def backend(server: FakeModelArts, **options) -> ModelArtsBackend:  # noqa: ANN003
    values = {
        "endpoint": server.endpoint,
        "region": REGION,
        "flavor": FLAVOR,
        "engine_id": "tf-2.1-cpu",
        "api_retry_delay_s": 0.01,
        "poll_interval_s": 0.01,
        "stop_timeout_s": 5,
        **options,
    }
    found = get_backend("modelarts", JobStore(), values)
    assert isinstance(found, ModelArtsBackend)
    return found


def test_submit_status_logs_to_the_end(modelarts: FakeModelArts, make_job) -> None:  # noqa: ANN001
    runner = backend(modelarts)
    job = make_job("modelarts", overrides={"steps": 2})
    record = runner.submit(job)
    assert record.state is JobState.PENDING
    training_job_id = record.handle["training_job_id"]
    assert record.handle["project_id"] == PROJECT and record.handle["region"] == REGION
    # The server got exactly the rendered body, at the documented path, after the flavor check.
    create = modelarts.calls("POST", "/training-jobs$")
    assert [c.path for c in create] == [f"/v2/{PROJECT}/training-jobs"]
    assert create[0].body == runner.render(job).body | {"metadata": create[0].body["metadata"]}
    assert modelarts.calls("GET", "/training-job-flavors$")
    # The code went to the code URL (the embedded store here): the code dir plus launcher/ and entry/.
    code = objects_root() / "toy-bucket" / "launcher-code" / job.id / "code"
    assert (code / "toy_counter.yaml").is_file() and (code / "toyjobs" / "trainers.py").is_file()
    assert (code / "entry" / "modelarts_entry_acc.py").is_file() and (code / "launcher" / "cli.py").is_file()
    assert not list(code.rglob("__pycache__"))

    lines = list(runner.logs(job.id, follow=True))
    assert "".join(lines) == "".join(modelarts.default_log)
    final = runner.status(job.id)
    assert final.state is JobState.SUCCEEDED and final.exit_code == 0
    assert final.started_at is not None and final.ended_at is not None
    assert modelarts.calls("GET", f"/training-jobs/{training_job_id}/tasks/worker-0/logs/preview$")


def test_failed_job_reports_the_task_exit_code(modelarts: FakeModelArts, make_job) -> None:  # noqa: ANN001
    modelarts.exit_code = 1
    runner = backend(modelarts)
    job = make_job("modelarts")
    runner.submit(job)
    for _ in range(5):
        record = runner.status(job.id)
    assert record.state is JobState.FAILED
    assert record.exit_code == 1 and "worker-0: the process exited with 1" in record.reason


def test_stop_terminates_and_records_stopped(modelarts: FakeModelArts, make_job) -> None:  # noqa: ANN001
    runner = backend(modelarts)
    modelarts.terminating_looks = 3
    job = make_job("modelarts", nodes=2)
    record = runner.submit(job)
    assert runner.status(job.id).state is JobState.PENDING
    assert not runner.cancel(job.id).state.terminal  # cancel asks and returns while the job is still terminating
    runner.cancel(job.id)  # a second cancel does not ask again
    final = runner.wait(job.id, timeout=runner.stop_timeout(job.id))
    assert final.state is JobState.STOPPED and final.reason == "stopped" and final.stop_requested
    actions = modelarts.calls("POST", "/actions$")
    assert [a.body for a in actions] == [{"action_type": "terminate"}]
    assert actions[0].path == f"/v2/{PROJECT}/training-jobs/{record.handle['training_job_id']}/actions"
    assert runner.cancel(job.id) == final  # cancelling an ended job changes nothing
    assert len(modelarts.calls("POST", "/actions$")) == 1


def test_logs_of_another_node_and_bad_rank(modelarts: FakeModelArts, make_job) -> None:  # noqa: ANN001
    runner = backend(modelarts)
    job = make_job("modelarts", nodes=2, count=2)
    runner.submit(job)
    assert list(runner.logs(job.id, rank=3)) == []  # not started yet: no log, and no call for one
    assert not modelarts.calls("GET", "/logs/preview$")
    while runner.status(job.id).state is JobState.PENDING:
        pass  # each look moves the fake job one phase on
    assert list(runner.logs(job.id, rank=3))
    assert modelarts.calls("GET", "/tasks/worker-1/logs/preview$") and not modelarts.calls("GET", "/worker-0/logs/")
    with pytest.raises(UserError, match=r"ranks 0\.\.3, not 4"):
        list(runner.logs(job.id, rank=4))


def test_status_works_from_a_launcher_with_no_options(modelarts: FakeModelArts, make_job) -> None:  # noqa: ANN001
    job = make_job("modelarts")
    backend(modelarts).submit(job)
    plain = get_backend("modelarts", JobStore())  # what `launcher status <job>` builds: the handle says where
    assert plain.status(job.id).state is JobState.PENDING
    listed = plain.list()
    assert [r.id for r in listed] == [job.id] and modelarts.calls("POST", "/training-job-searches$")


def test_list_keeps_last_known_states_without_credentials(modelarts: FakeModelArts, make_job, monkeypatch) -> None:  # noqa: ANN001
    job = make_job("modelarts")
    backend(modelarts).submit(job)
    monkeypatch.delenv("HUAWEICLOUD_SDK_SK")
    (listed,) = get_backend("modelarts", JobStore()).list()
    assert listed.id == job.id and listed.state is JobState.PENDING


def test_429_and_5xx_are_retried(modelarts: FakeModelArts, make_job) -> None:  # noqa: ANN001
    modelarts.fail_next("GET", "/training-job-flavors$", 429, times=2)
    modelarts.fail_next("GET", "/training-jobs/[^/]+$", 503, times=3)
    runner = backend(modelarts)
    job = make_job("modelarts")
    runner.submit(job)
    assert runner.status(job.id).state is JobState.PENDING
    assert [c.status for c in modelarts.calls("GET", "/training-job-flavors$")] == [429, 429, 200]
    assert [c.status for c in modelarts.calls("GET", "/training-jobs/[^/]+$")] == [503, 503, 503, 200]


def test_retries_are_bounded(modelarts: FakeModelArts, make_job) -> None:  # noqa: ANN001
    modelarts.fail_next("GET", "/training-job-flavors$", 500, times=10)
    with pytest.raises(UserError, match=r"ModelArts flavor list failed after 2 retries: 500 ModelArts.500"):
        backend(modelarts, api_retries=2).submit(make_job("modelarts"))
    assert len(modelarts.calls("GET", "/training-job-flavors$")) == 3


def test_create_that_failed_with_5xx_but_happened_is_adopted(modelarts: FakeModelArts, make_job) -> None:  # noqa: ANN001
    modelarts.fail_next("POST", "/training-jobs$", 502, then_create=True)
    record = backend(modelarts).submit(make_job("modelarts"))
    assert len(modelarts.jobs) == 1  # not a second job
    assert record.handle["training_job_id"] == next(iter(modelarts.jobs))
    assert len(modelarts.calls("POST", "/training-jobs$")) == 1


def test_wrong_secret_key_is_credentials_rejected(modelarts: FakeModelArts, make_job, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", "not-the-right-secret")
    with pytest.raises(UserError) as caught:
        backend(modelarts).submit(make_job("modelarts"))
    message = str(caught.value)
    assert message.startswith("ModelArts credentials rejected (401 APIGW.0301")
    assert "not-the-right-secret" not in message and SK not in message
    assert len(modelarts.requests) == 1  # a 401 is not retried


def test_forbidden_project_is_a_clear_error(modelarts: FakeModelArts, make_job) -> None:  # noqa: ANN001
    with pytest.raises(UserError, match=r"ModelArts refused access \(403 .*project other-project in cn-north-4"):
        backend(modelarts, project_id="other-project").submit(make_job("modelarts"))


def test_unknown_flavor(modelarts: FakeModelArts, make_job) -> None:  # noqa: ANN001
    with pytest.raises(
        UserError, match=r"unknown flavor 'modelarts.bogus' in cn-north-4; this project offers: modelarts.vm.cpu.8u"
    ):
        backend(modelarts, flavor="modelarts.bogus").submit(make_job("modelarts"))
    assert not modelarts.calls("POST", "/training-jobs$") and not modelarts.jobs
    # Without the look-up, the API's own 400 says the same.
    with pytest.raises(UserError, match=r"unknown flavor 'modelarts.bogus'.*ModelArts.2763"):
        backend(modelarts, flavor="modelarts.bogus", check_flavor=False).submit(make_job("modelarts"))


def test_vanished_job_is_not_found(modelarts: FakeModelArts, make_job) -> None:  # noqa: ANN001
    runner = backend(modelarts)
    job = make_job("modelarts")
    runner.submit(job)
    modelarts.jobs.clear()
    with pytest.raises(JobNotFound, match="ModelArts has no training job"):
        runner.status(job.id)


def test_missing_credentials_and_project(modelarts: FakeModelArts, make_job, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("HUAWEICLOUD_SDK_PROJECT_ID")
    with pytest.raises(UserError, match="no ModelArts project id for cn-north-4: give --project_id"):
        backend(modelarts).submit(make_job("modelarts"))
    monkeypatch.delenv("HUAWEICLOUD_SDK_SK")
    with pytest.raises(UserError, match="no ModelArts credentials: set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK"):
        backend(modelarts).submit(make_job("modelarts"))
    assert not modelarts.requests


def test_storage_profile_keys_are_used_and_region_checked(modelarts: FakeModelArts, make_job, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("HUAWEICLOUD_SDK_AK")
    monkeypatch.delenv("HUAWEICLOUD_SDK_SK")
    monkeypatch.setenv("ACCESS_KEY_ID", next(iter(modelarts.keys)))
    monkeypatch.setenv("SECRET_ACCESS_KEY", SK)
    monkeypatch.setenv("S3_ENDPOINT", "https://obs.cn-east-3.myhuaweicloud.com")
    with pytest.raises(UserError, match="region mismatch: ModelArts region is cn-north-4 but the storage endpoint"):
        backend(modelarts).submit(make_job("modelarts"))
    monkeypatch.delenv("S3_ENDPOINT")
    assert backend(modelarts).submit(make_job("modelarts")).state is JobState.PENDING


def test_large_hyperparameters_are_uploaded_with_the_code(modelarts: FakeModelArts, make_job) -> None:  # noqa: ANN001
    import json

    runner = backend(modelarts)
    job = make_job("modelarts", overrides={"steps": 2, "note": "n" * 200_000})
    runner.submit(job)
    create = modelarts.calls("POST", "/training-jobs$")
    params = create[0].body["algorithm"]["parameters"]
    assert {"name": "hyperparameters", "value": "@.launcher/hyperparameters.json"} in params
    assert all(len(p["value"]) < 1024 for p in params)
    uploaded = objects_root() / "toy-bucket" / "launcher-code" / job.id / "code" / ".launcher" / "hyperparameters.json"
    assert json.loads(uploaded.read_text()) == job.hyperparameters
    assert (uploaded.parent.parent / "toy_counter.yaml").is_file()  # beside the code, not instead of it
