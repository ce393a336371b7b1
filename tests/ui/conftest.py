"""Dashboard fixtures: a server on a free loopback port over the test's own LAUNCHER_HOME, records and outputs
written through the real job store and storage, and Debian's chromium driven by Playwright.

The browser fixture FAILS when chromium cannot start (scripts/test.sh installs it): a dashboard test that
silently skips would prove nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from launcher import storage
from launcher.backends import get_backend
from launcher.cli import seed_demo_data
from launcher.jobs import JobRecord, JobState, JobStore
from launcher.jobspec import plan_job
from launcher.ui.security import Access
from launcher.ui.server import running

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def make_record(store: JobStore, job_id: str, state: JobState = JobState.SUCCEEDED, **fields) -> JobRecord:  # noqa: ANN003
    """A record as a backend leaves it, with outputs under obs://ui-bucket/jobs/<id>/ (the embedded store)."""
    now = time.time()
    values = {
        "id": job_id,
        "name": fields.pop("name", "lenet"),
        "recipe": "recipes/lenet.yaml",
        "backend": fields.pop("backend", "local"),
        "state": state,
        "created_at": fields.pop("created_at", now),
        "started_at": now - 30,
        "ended_at": now if state.terminal else None,
        "exit_code": {JobState.SUCCEEDED: 0, JobState.FAILED: 1, JobState.STOPPED: 143}.get(state),
        "train_url": f"obs://ui-bucket/jobs/{job_id}/",
        "data_url": "obs://ui-bucket/data/",
        "hyperparameters": {"epochs": 2, "learning_rate": 0.01},
        **fields,
    }
    return store.create(JobRecord(**values))


def submit(store: JobStore, **overrides: object) -> JobRecord:
    """A real LeNet-like job through the local backend (fixtures/ui_lenet.yaml), as `launcher submit --detach`."""
    spec = plan_job(FIXTURES / "ui_lenet.yaml", overrides)
    seed_demo_data(spec)
    return get_backend("local", store, {"grace_seconds": 20}).submit(spec)


def put(url: str, document: object) -> None:
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    storage.write_bytes(url, data)


@pytest.fixture
def store(launcher_home: Path) -> JobStore:
    return JobStore()


@pytest.fixture
def server(store: JobStore) -> Iterator[str]:
    with running(store=store) as url:
        yield url


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as http:
        yield http


def csrf_of(html: str) -> str:
    marker = '<meta name="csrf" content="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


@pytest.fixture
def token_server(store: JobStore) -> Iterator[tuple[str, Access]]:
    """A dashboard that requires a token, as `--host 0.0.0.0` gets (still bound to loopback for the test)."""
    access = Access(token="test-token-1234567890")
    with running(access=access, store=store) as url:
        yield url, access


@pytest.fixture
def browser_context(tmp_path: Path):  # noqa: ANN201
    """A fresh chromium profile in the test's tmp dir; no skip: a missing browser is a failure."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's chromium (scripts/test.sh does)"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport={"width": 1280, "height": 860},
        )
        try:
            yield context
        finally:
            context.close()
