"""The secret scan extended to the dashboard: no page, JSON answer, log stream or served text file shows a secret,
whether it came from the environment (a real job run with credentials set) or sits in a record, a failure.json or
a log that was written before redaction, or under a secret-looking hyperparameter name."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from launcher.backends import get_backend

from launcher.jobs import JobState, JobStore
from tests.launcher.helpers import wait_terminal
from tests.reliability.test_secrets_never_shown import SECRET, SECRET_ENV, assert_clean
from tests.ui.conftest import make_record, put, submit

PLAIN_TOKEN = "plain-value-under-a-secret-name"


def test_no_page_shows_a_secret(
    store: JobStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: str
) -> None:
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    real = submit(store, steps=2, note=SECRET)
    wait_terminal(store, real.id, get_backend("local", store))
    log = tmp_path / "job.log"
    log.write_text(f"step 1\nconnecting with {SECRET}-token\n")
    make_record(
        store,
        "leaky-1",
        JobState.FAILED,
        reason=f"credentials {SECRET}-sk rejected",
        hyperparameters={"api_token": PLAIN_TOKEN, "note": SECRET},
        handle={"logs": [str(log)]},
    )
    put(
        "obs://ui-bucket/jobs/leaky-1/logs/failure.json",
        {"reason": f"credentials {SECRET}-sk rejected", "exit_code": 2, "last_log_lines": [f"key={SECRET}"]},
    )
    ids = [real.id, "leaky-1"]
    paths = ["/", "/?fragment=rows", "/api/jobs", f"/compare?job={ids[0]}&job={ids[1]}", f"/api/compare?job={ids[0]}&job={ids[1]}"]
    for job_id in ids:
        paths += [f"/jobs/{job_id}", f"/api/jobs/{job_id}", f"/api/jobs/{job_id}/curves", f"/api/jobs/{job_id}/logs/0"]
    with httpx.Client(base_url=server, timeout=60) as http:
        pages = {path: http.get(path) for path in paths}
        job_page = pages[f"/jobs/{real.id}"].text
        files = re.findall(rf'href="(/jobs/{re.escape(real.id)}/files/[^"]+\.(?:txt|json|log))"', job_page)
        assert any("/logs/" in f for f in files) and any(f.endswith("metrics.json") for f in files), files
        pages.update({f: http.get(f) for f in files})
    for path, response in pages.items():
        assert response.status_code == 200, path
        assert_clean(response.text, f"the dashboard's {path}")
        assert PLAIN_TOKEN not in response.text, path
    assert "credentials *** rejected" in pages["/api/jobs/leaky-1"].text  # masked, not dropped
    assert "connecting with ***" in pages["/api/jobs/leaky-1/logs/0"].text
    assert "api_token = \"***\"" in pages["/jobs/leaky-1"].text
