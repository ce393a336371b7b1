"""The dashboard over HTTP (a real uvicorn server, real job store, real embedded object store): pages, paging,
filters, progress and metrics from the job's outputs, failure reasons, log streams."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from entry.progress import ProgressReport
from launcher.backends import get_backend
from launcher.jobs import JobState, JobStore
from launcher.ui.views import log_tabs
from tests.launcher.helpers import wait_terminal
from tests.ui.conftest import csrf_of, make_record, put, submit


def test_no_jobs_shows_how_to_submit_one(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "No jobs yet" in page.text and "launcher submit recipes/lenet.yaml" in page.text
    assert client.get("/api/jobs").json()["rows"] == []


def test_rows_carry_state_progress_eta_and_headline_metric(store: JobStore, client: httpx.Client) -> None:
    make_record(store, "done-1", JobState.SUCCEEDED)
    put("obs://ui-bucket/jobs/done-1/metrics.json", {"accuracy": 0.9871, "loss": 0.04})
    make_record(store, "run-1", JobState.RUNNING, handle={})
    report = ProgressReport(step=120, total_steps=400, eta_seconds=95, metrics={"loss": 0.7})
    put("obs://ui-bucket/jobs/run-1/progress.json", report.model_dump(mode="json"))
    rows = {r["id"]: r for r in client.get("/api/jobs").json()["rows"]}
    assert rows["done-1"]["state"] == "SUCCEEDED" and rows["done-1"]["headline"] == ["accuracy", 0.9871]
    # run-1 has no live process behind it: the local backend reconciles it to FAILED (lost), as `status` does.
    assert rows["run-1"]["step"] == 120 and rows["run-1"]["total_steps"] == 400
    page = client.get("/").text
    assert 'class="state state-succeeded"' in page and "0.9871" in page and "120/400" in page


def test_running_row_shows_eta(store: JobStore, client: httpx.Client) -> None:
    make_record(store, "remote-1", JobState.RUNNING, backend="modelarts", handle={})
    report = ProgressReport(step=10, total_steps=40, eta_seconds=125)
    put("obs://ui-bucket/jobs/remote-1/progress.json", report.model_dump(mode="json"))
    row = client.get("/api/jobs").json()["rows"][0]
    assert row["eta_seconds"] == 125
    assert "ETA 2m 05s" in client.get("/").text


def test_paging_and_filters(store: JobStore, client: httpx.Client) -> None:
    base = time.time() - 10_000
    for i in range(120):
        state = (JobState.SUCCEEDED, JobState.FAILED, JobState.STOPPED)[i % 3]
        make_record(store, f"job-{i:03d}", state, name="lenet" if i % 2 else "sesemi", created_at=base + i)
    first = client.get("/api/jobs").json()
    assert first["total"] == 120 and first["pages"] == 3 and len(first["rows"]) == 50
    assert first["rows"][0]["id"] == "job-119"  # newest first
    assert first["backends"] == ["local"] and first["recipes"] == ["lenet", "sesemi"]
    last = client.get("/api/jobs", params={"page": 3}).json()
    assert [r["id"] for r in last["rows"]][-1] == "job-000" and len(last["rows"]) == 20
    failed = client.get("/api/jobs", params={"state": "FAILED", "recipe": "lenet"}).json()
    assert failed["total"] == 20 and {(r["state"], r["name"]) for r in failed["rows"]} == {("FAILED", "lenet")}
    assert client.get("/api/jobs", params={"backend": "volcano"}).json()["total"] == 0
    assert client.get("/api/jobs", params={"page": 99}).json()["page"] == 3  # clamped, not an empty page
    assert client.get("/api/jobs", params={"page": 10**20}).json()["page"] == 3
    assert client.get("/api/jobs", params={"page": -4}).json()["page"] == 1
    fragment = client.get("/", params={"fragment": "rows", "page": 2}).text
    assert fragment.count("<tr data-job=") == 50 and "page 2 of 3" in fragment and "<html" not in fragment


def test_job_page_shows_the_resolved_job_failure_and_outputs(store: JobStore, client: httpx.Client) -> None:
    make_record(store, "broken-1", JobState.FAILED, reason="FloatingPointError: loss diverged")
    put(
        "obs://ui-bucket/jobs/broken-1/logs/failure.json",
        {"exit_code": 1, "reason": "FloatingPointError: loss diverged", "last_log_lines": ["step 3 loss nan", "Traceback ..."]},
    )
    put("obs://ui-bucket/jobs/broken-1/plots/embedding.png", b"\x89PNG\r\n\x1a\n fake")
    page = client.get("/jobs/broken-1")
    assert page.status_code == 200
    assert "FloatingPointError: loss diverged" in page.text and "step 3 loss nan" in page.text
    assert 'src="/jobs/broken-1/files/plots/embedding.png"' in page.text  # images inline
    assert "learning_rate = 0.01" in page.text and "obs://ui-bucket/jobs/broken-1/" in page.text
    detail = client.get("/api/jobs/broken-1").json()
    assert detail["failure"]["last_lines"][-1] == "Traceback ..."
    assert client.get("/jobs/nope").status_code == 404
    assert client.get("/api/jobs/nope").json()["detail"] == "no job 'nope'"


def test_compare_tabulates_differing_hyperparameters_and_final_metrics(store: JobStore, client: httpx.Client) -> None:
    make_record(store, "a-1", hyperparameters={"epochs": 2, "learning_rate": 0.01, "batch": 64})
    make_record(store, "b-1", hyperparameters={"epochs": 2, "learning_rate": 0.1, "batch": 64})
    put("obs://ui-bucket/jobs/a-1/metrics.json", {"accuracy": 0.91})
    put("obs://ui-bucket/jobs/b-1/metrics.json", {"accuracy": 0.95})
    page = client.get("/compare", params=[("job", "a-1"), ("job", "b-1")]).text
    differing = page[page.index('id="differing"') : page.index('id="final-metrics"')]
    assert "learning_rate" in differing and "epochs" not in differing and "batch" not in differing
    assert "0.91" in page and "0.95" in page
    curves = client.get("/api/compare", params=[("job", "a-1"), ("job", "b-1")]).json()
    assert [j["id"] for j in curves["jobs"]] == ["a-1", "b-1"]


def _events(text: str) -> list[tuple[str, str, list[str]]]:
    out = []
    for block in text.strip().split("\n\n"):
        fields: dict[str, list[str]] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            fields.setdefault(name, []).append(value)
        if "event" in fields:
            out.append((fields["event"][0], fields["id"][0], fields.get("data", [])))
    return out


def test_log_stream_sends_lines_then_end_and_resumes_after_last_event_id(
    store: JobStore, client: httpx.Client, tmp_path: Path
) -> None:
    log = tmp_path / "job.log"
    log.write_text("".join(f"line {i}\n" for i in range(1, 8)))
    make_record(store, "logged-1", JobState.SUCCEEDED, handle={"logs": [str(log)]})
    events = _events(client.get("/api/jobs/logged-1/logs/0").text)
    lines = [line for kind, _, data in events if kind == "lines" for line in data]
    assert lines == [f"line {i}" for i in range(1, 8)]
    assert events[-1][0] == "end" and events[-1][1] == "7"
    resumed = _events(client.get("/api/jobs/logged-1/logs/0", headers={"Last-Event-ID": "5"}).text)
    assert [line for kind, _, data in resumed if kind == "lines" for line in data] == ["line 6", "line 7"]
    assert client.get("/api/jobs/logged-1/logs/3").status_code == 404  # no such rank: a clear refusal


def test_restart_button_runs_the_job_again_on_its_train_url(store: JobStore, client: httpx.Client) -> None:
    local = get_backend("local", store)
    first = submit(store, steps=2, learning_rate=0.02)
    wait_terminal(store, first.id, local)
    csrf = csrf_of(client.get(f"/jobs/{first.id}").text)
    answer = client.post(
        f"/jobs/{first.id}/restart", content=f"csrf={csrf}", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 303
    again = store.get(answer.headers["location"].removeprefix("/jobs/"))
    assert again.id != first.id and again.train_url == first.train_url
    assert again.hyperparameters == first.hyperparameters
    final = wait_terminal(store, again.id, local)
    assert final.state is JobState.SUCCEEDED
    assert client.get(f"/jobs/{again.id}").status_code == 200


def test_an_unreachable_object_store_leaves_the_pages_up(
    store: JobStore, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("LAUNCHER_S3_MAX_ATTEMPTS", "1")
    make_record(store, "far-1", train_url="s3://gone-bucket/jobs/far-1/")
    assert client.get("/api/jobs").json()["rows"][0]["id"] == "far-1"
    page = client.get("/jobs/far-1")
    assert page.status_code == 200 and "Nothing in the outputs yet" in page.text
    download = client.get("/jobs/far-1/files/metrics.json")
    assert download.status_code == 502 and "cannot read the outputs of far-1: " in download.text


def test_log_tabs_follow_what_each_backend_keeps() -> None:
    assert log_tabs({"logs": ["/j/job.log", "/j/job-rank-1.log"]}) == [("rank 0", 0), ("rank 1", 1)]
    assert log_tabs({"nodes": 2, "ranks_per_node": 8}) == [("node 0", 0), ("node 1", 8)]  # ModelArts, Volcano
    assert log_tabs({"nodes": 1, "ranks_per_node": 8}) == [("log", 0)]
    assert log_tabs({}) == [("log", 0)] and log_tabs({"nodes": "x"}) == [("log", 0)]
