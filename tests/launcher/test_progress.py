"""Live progress: the trainers' API writes progress.json atomically; status/list/compare read it from elsewhere."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from entry.contract import PROGRESS_FILE
from entry.progress import ProgressReport
from entry.progress import HISTORY_POINTS, ProgressReporter, report_progress
from launcher import storage
from launcher.jobs import JobRecord, JobState, JobStore
from launcher.progress import compare, format_comparison, local_output_dir, progress_cell, progress_line, read_progress
from tests.launcher.helpers import FIXTURES, run_cli, wait_for

TOY = str(FIXTURES / "toy_counter.yaml")


def test_reporter_writes_rate_eta_and_a_bounded_history(tmp_path: Path) -> None:
    reporter = ProgressReporter(tmp_path, total_steps=1000, samples_per_step=32, min_interval_s=0)
    for step in range(1, 3 * HISTORY_POINTS):
        reporter.update(step, epoch=1, metrics={"loss": 1.0 / step, "accuracy": math.nan, "name": "x"})  # type: ignore[dict-item]
    report = ProgressReport.model_validate_json((tmp_path / PROGRESS_FILE).read_text())
    assert report.step == 3 * HISTORY_POINTS - 1 and report.total_steps == 1000 and report.epoch == 1
    assert report.metrics == {"loss": pytest.approx(1.0 / report.step)}  # NaN and text are left out, not JSON-broken
    assert report.samples_per_sec and report.samples_per_sec > 0 and report.eta_seconds is not None
    assert len(report.history) <= HISTORY_POINTS and report.history[-1]["step"] == report.step
    assert [p.name for p in tmp_path.iterdir()] == [PROGRESS_FILE]  # no temporary files left behind


def test_writes_are_throttled_but_the_last_step_always_lands(tmp_path: Path) -> None:
    reporter = ProgressReporter(tmp_path, total_steps=50, min_interval_s=3600)
    written = [reporter.update(step, metrics={"loss": 1.0}) for step in range(1, 51)]
    assert written[0] is not None and written[-1] is not None and sum(r is not None for r in written) == 2
    env = SimpleNamespace(output_dir=tmp_path / "rank1", is_chief=False)
    assert report_progress(env, 1, 10) is None and not (tmp_path / "rank1").exists()  # one writer: the chief


def test_a_resumed_run_measures_its_rate_afresh(tmp_path: Path) -> None:
    reporter = ProgressReporter(tmp_path, total_steps=100, samples_per_step=1, min_interval_s=0)
    for step in range(1, 60):
        reporter.update(step, metrics={"loss": 1.0})
    for step in range(40, 45):  # restarted from the checkpoint at step 39
        report = reporter.update(step, metrics={"loss": 0.5})
    assert report is not None and report.step == 44 and report.samples_per_sec and report.samples_per_sec > 0
    assert max(point["step"] for point in report.history) == 44


def test_a_reader_in_another_thread_never_sees_half_a_file(tmp_path: Path) -> None:
    reporter = ProgressReporter(tmp_path, total_steps=10**6, min_interval_s=0)
    reporter.update(0)
    stop = threading.Event()
    seen: list[int] = []

    def read() -> None:
        while not stop.is_set():
            seen.append(ProgressReport.model_validate_json((tmp_path / PROGRESS_FILE).read_bytes()).step)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for step in range(1, 400):
            reporter.update(step, metrics={f"m{i}": float(i) for i in range(50)})
    finally:
        stop.set()
        reader.join()
    assert seen and seen == sorted(seen)


def test_progress_of_a_running_job_is_read_from_another_process() -> None:
    result = run_cli("submit", TOY, "--steps", "40", "--step_seconds", "0.25", "--detach")
    assert result.returncode == 0, result.stderr
    job_id = result.stdout.split()[1]
    try:
        record = JobStore().get(job_id)
        wait_for(lambda: (r := read_progress(record)) is not None and r.step >= 2, timeout=120)
        status = run_cli("status", job_id)
        line = next(line for line in status.stdout.splitlines() if line.strip().startswith("progress:"))
        assert "/40 " in line and "samples/s" in line and "ETA" in line and "loss" in line, status.stdout
        listing = run_cli("list")
        row = next(r for r in listing.stdout.splitlines() if r.startswith(job_id))
        assert "PROGRESS" in listing.stdout and "/40" in row
    finally:
        run_cli("stop", job_id)
    # Ended: the pushed copy at train_url answers when the local job folder is gone.
    final = JobStore().get(job_id)
    assert final.state.terminal
    (local_output_dir(final) / PROGRESS_FILE).unlink()
    pushed = read_progress(final)
    assert pushed is not None and pushed.total_steps == 40
    assert read_progress(final, remote=False) is None


def _record(job_id: str, hp: dict, metrics: dict | None) -> JobRecord:
    train_url = f"obs://cmp-bucket/jobs/{job_id}/"
    if metrics is not None:
        storage.write_bytes(train_url + "metrics.json", json.dumps(metrics).encode())
    return JobRecord(id=job_id, name="toy", recipe="r.yaml", backend="local", train_url=train_url, hyperparameters=hp, state=JobState.SUCCEEDED)


def test_compare_shows_differing_hyperparameters_and_final_metrics() -> None:
    a = _record("job-a", {"steps": 10, "note": "x", "lr": 0.1}, {"accuracy": 0.9, "loss": 0.3})
    b = _record("job-b", {"steps": 20, "note": "x", "lr": 0.1}, {"accuracy": 0.95})
    c = _record("job-c", {"steps": 20, "note": "x"}, None)
    table = compare([a, b, c])
    assert table.hyperparameters == {"lr": [0.1, 0.1, None], "steps": [10, 20, 20]}
    assert table.metrics == {"accuracy": [0.9, 0.95, None], "loss": [0.3, None, None]}
    text = format_comparison(table)
    assert "note" not in text and "job-a" in text.splitlines()[0]
    accuracy = next(line for line in text.splitlines() if line.strip().startswith("accuracy"))
    assert accuracy.split()[1:] == ["0.9", "0.95", "-"]


def test_progress_line_and_cell() -> None:
    report = ProgressReport(step=120, total_steps=300, epoch=2, samples_per_sec=35.2, eta_seconds=72, metrics={"loss": 0.512, "accuracy": 0.83})
    line = progress_line(report)
    assert line.startswith("[#########") and "120/300 40%" in line and "35.2 samples/s" in line
    assert "ETA 1m12s" in line and "loss 0.512 accuracy 0.83" in line
    assert progress_cell(report) == "40% 120/300" and progress_cell(None) == "-"
    assert progress_cell(ProgressReport(step=7)) == "step 7"


def test_keras_callback_reports_from_model_fit(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    import numpy as np

    from entry.progress_keras import ProgressCallback

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((64, 4), "float32"), np.zeros((64, 1), "float32")
    env = SimpleNamespace(output_dir=tmp_path, is_chief=True)
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[ProgressCallback(env, samples_per_step=16)])
    report = ProgressReport.model_validate_json((tmp_path / PROGRESS_FILE).read_text())
    assert report.step == 12 and report.total_steps == 12 and report.epoch == 3 and "loss" in report.metrics
