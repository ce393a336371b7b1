"""How fast does the dashboard answer with a full job store? Latency of its pages over real HTTP (uvicorn on
loopback, httpx), against a scratch LAUNCHER_HOME holding `--records` jobs (default 1,000) with progress.json and
metrics.json in the embedded object store for each; 5% are RUNNING (a live supervisor stands in), the rest ended.

The budget (issue 19): the jobs page answers in under 200 ms with 1,000 records. `cold` is the first request
after start (progress/metrics of ended jobs not yet cached), then `--repeats` requests give median and p95.

    .venv/bin/python bench/ui_latency.py [--records 1000] [--repeats 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

BUDGET_MS = 200.0


def fill_store(records: int) -> list[str]:
    from entry.progress import ProgressReport
    from launcher.backends.local import process
    from launcher.jobs import JobRecord, JobState, JobStore
    from launcher.paths import objects_root

    store = JobStore()
    alive = process.identity(os.getpid(), prefix="supervisor_")  # RUNNING rows stay RUNNING while we measure
    ended = (JobState.SUCCEEDED, JobState.FAILED, JobState.STOPPED)
    now = time.time()
    ids = []
    for i in range(records):
        job_id = f"{('lenet', 'sesemi', 'gitloss')[i % 3]}-bench-{i:05d}"
        state = JobState.RUNNING if i % 20 == 0 else ended[i % 3]
        store.create(
            JobRecord(
                id=job_id,
                name=job_id.split("-")[0],
                recipe="recipes/lenet.yaml",
                backend="local",
                state=state,
                created_at=now - (records - i) * 60,
                started_at=now - (records - i) * 60 + 5,
                ended_at=None if state is JobState.RUNNING else now - (records - i) * 60 + 300,
                train_url=f"obs://bench/jobs/{job_id}/",
                hyperparameters={"epochs": 2, "learning_rate": 0.001 * (1 + i % 5)},
                handle=alive if state is JobState.RUNNING else {},
            )
        )
        # The embedded store's own layout (objects/<bucket>/<key>), written directly: setup, not measurement.
        folder = objects_root() / "bench" / "jobs" / job_id
        folder.mkdir(parents=True)
        history = [{"step": s, "loss": 2.3 / s, "accuracy": 1 - 1 / s} for s in range(1, 201)]
        report = ProgressReport(step=200, total_steps=400, eta_seconds=120, metrics=history[-1], history=history)
        (folder / "progress.json").write_text(report.model_dump_json())
        (folder / "metrics.json").write_text(json.dumps({"accuracy": 0.9, "loss": 0.1}))
        ids.append(job_id)
    return ids


def measure(http, path: str, repeats: int) -> tuple[float, float, float]:  # noqa: ANN001
    def once() -> float:
        start = time.perf_counter()
        response = http.get(path)
        elapsed = (time.perf_counter() - start) * 1000
        assert response.status_code == 200, (path, response.status_code)
        return elapsed

    cold = once()
    times = sorted(once() for _ in range(repeats))
    return cold, statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ui-bench-") as home:
        os.environ["LAUNCHER_HOME"] = home
        for name in ("S3_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "LAUNCHER_STORAGE_PROFILE"):
            os.environ.pop(name, None)  # the embedded store, whatever this shell points at
        import httpx

        from launcher.ui.server import running

        ids = fill_store(args.records)
        cases = [
            ("jobs page /", "/"),
            ("jobs page, live poll (?fragment=rows)", "/?fragment=rows"),
            ("jobs page filtered, page 3", "/?state=FAILED&recipe=lenet&page=3"),
            ("jobs JSON /api/jobs", "/api/jobs"),
            ("job page (running)", f"/jobs/{ids[0]}"),
            ("job page (ended)", f"/jobs/{ids[1]}"),
        ]
        rows = []
        with running() as url, httpx.Client(base_url=url, timeout=60) as http:
            for label, path in cases:
                rows.append((label, *measure(http, path, args.repeats)))
    print(f"launcher ui latency: {args.records} records in the store, {args.repeats} requests each, loopback HTTP")
    print(f"{'request':<40} {'cold ms':>8} {'median ms':>10} {'p95 ms':>8} {'median/budget':>14}")
    for label, cold, median, p95 in rows:
        print(f"{label:<40} {cold:>8.1f} {median:>10.1f} {p95:>8.1f} {median / BUDGET_MS:>13.2f}x")
    print(f"budget: {BUDGET_MS:.0f} ms for the jobs page (ratio < 1.00x is within budget)")


if __name__ == "__main__":
    main()
