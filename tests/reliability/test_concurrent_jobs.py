"""Many local jobs at once on one job store: every job ends in the right state, no update lost, none stuck."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from launcher.jobs import JobRecord, JobState, JobStore
from tests.launcher.helpers import FIXTURES, run_cli, wait_for

JOBS = 8


def submit(i: int) -> str:
    recipe = "toy_crasher.yaml" if i % 4 == 3 else "toy_counter.yaml"
    result = run_cli("submit", str(FIXTURES / recipe), "--steps", str(2 + i % 3), "--detach")
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[1]


def test_concurrent_submissions_all_end_truthfully() -> None:
    with ThreadPoolExecutor(max_workers=JOBS) as pool:  # CLIs racing on the same SQLite file
        job_ids = list(pool.map(submit, range(JOBS)))
    assert len(set(job_ids)) == JOBS
    store = JobStore()

    def all_ended() -> list[JobRecord] | None:
        records = [store.get(j) for j in job_ids]
        return records if all(r.state.terminal for r in records) else None

    records = wait_for(all_ended, timeout=240)
    for i, record in enumerate(records):
        if i % 4 == 3:
            assert (record.state, record.exit_code) == (JobState.FAILED, 1)
        else:
            assert (record.state, record.exit_code) == (JobState.SUCCEEDED, 0), record.reason
            assert record.hyperparameters["steps"] == 2 + i % 3
        assert record.started_at is not None and record.ended_at >= record.started_at
    listing = run_cli("list", "--limit", "50")
    assert sum(line.split()[0] in job_ids for line in listing.stdout.splitlines()[1:]) == JOBS
    # records stay well-formed: each survives a JSON round trip unchanged, as the job store and `list --json` need
    for record in records:
        assert JobRecord.model_validate(json.loads(json.dumps(record.model_dump(mode="json")))) == record
