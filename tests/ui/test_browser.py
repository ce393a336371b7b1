"""The dashboard as a person uses it, in Debian's headless chromium over real jobs run by the local backend:
a finished, a failed and a running LeNet-like job. Screenshots of the jobs page and a job page are saved in the
test's tmp dir (docs/ui-jobs.png and docs/ui-job.png come from them)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from launcher.backends import get_backend
from launcher.jobs import JobState, JobStore
from launcher.ui.server import running
from tests.launcher.helpers import wait_terminal
from tests.ui.conftest import submit

LIVE = 60_000  # ms: generous for a loaded 2-core CI machine; the assertions return as soon as they hold
expect.set_options(timeout=LIVE)


def keep_artifacts(tmp_path: Path) -> None:
    """Screenshots stay in the test's tmp dir; CI also collects them from $LAUNCHER_TEST_ARTIFACTS/ui."""
    target = os.environ.get("LAUNCHER_TEST_ARTIFACTS")
    if target:
        Path(target, "ui").mkdir(parents=True, exist_ok=True)
        for shot in tmp_path.glob("ui-*.png"):
            shutil.copy2(shot, Path(target, "ui", shot.name))


def fresh_page(context: BrowserContext) -> Page:
    page = context.new_page()
    page.set_default_timeout(LIVE)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    return page


def no_reload_marker(page: Page) -> None:
    page.evaluate("window.__stillTheSamePage = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__stillTheSamePage === true"), "the page was reloaded"


def test_jobs_table_live_log_state_flip_curves_and_failure(
    store: JobStore, browser_context: BrowserContext, tmp_path: Path
) -> None:
    local = get_backend("local", store)
    finished = submit(store, steps=4)
    failed = submit(store, steps=6, fail_at=2)
    wait_terminal(store, finished.id, local)
    wait_terminal(store, failed.id, local)
    running_job = submit(store, steps=12, step_seconds=0.7)

    with running(store=store) as url:
        jobs = fresh_page(browser_context)
        jobs.goto(url)
        expect(jobs.locator("#jobs-body tr")).to_have_count(3)
        expect(jobs.locator(f'tr[data-job="{finished.id}"] .state')).to_have_text("SUCCEEDED")
        expect(jobs.locator(f'tr[data-job="{failed.id}"] .state')).to_have_text("FAILED")
        expect(jobs.locator(f'tr[data-job="{running_job.id}"] .state')).to_have_text("RUNNING")
        expect(jobs.locator(f'tr[data-job="{finished.id}"]')).to_contain_text("accuracy")
        expect(jobs.locator(f'tr[data-job="{running_job.id}"] .progress-text')).to_contain_text("/12")
        no_reload_marker(jobs)
        jobs.screenshot(path=str(tmp_path / "ui-jobs.png"), full_page=True)

        # Follow the running job's log to its end; its state flips on the page without a reload.
        job = fresh_page(browser_context)
        job.goto(f"{url}jobs/{running_job.id}")
        no_reload_marker(job)
        expect(job.locator("#state")).to_have_text("RUNNING")
        expect(job.locator("#log")).to_contain_text("lenet-like: step 3/12")
        expect(job.locator("#log")).to_contain_text("lenet-like: step 12/12")
        expect(job.locator("#log-status")).to_have_text("end of log")
        expect(job.locator("#state")).to_have_text("SUCCEEDED")
        expect(job.locator("#exit")).to_have_text("exit 0")
        expect(job.locator("#stop-form")).to_be_hidden()
        expect(job.locator("#restart-form")).to_be_visible()
        assert_not_reloaded(job)
        assert job.locator("#log").inner_text().count("lenet-like: step 5/12") == 1  # followed, not repeated

        # ...and in the table that was open all along.
        expect(jobs.locator(f'tr[data-job="{running_job.id}"] .state')).to_have_text("SUCCEEDED")
        assert_not_reloaded(jobs)

        # Curves (progress.json, history.json and the TensorBoard events) and the inline plot of a finished job.
        job.goto(f"{url}jobs/{finished.id}")
        expect(job.locator('.chart[data-metric="loss"] canvas')).to_have_count(1)
        expect(job.locator('.chart[data-metric="accuracy"] canvas')).to_have_count(1)
        expect(job.locator('.chart[data-metric="loss"]')).to_contain_text("tensorboard")
        plot = job.locator('img[alt="embedding.png"]')
        expect(plot).to_be_visible()
        job.wait_for_function("document.querySelector('img[alt=\"embedding.png\"]').naturalWidth > 0")
        job.screenshot(path=str(tmp_path / "ui-job.png"), full_page=True)

        # The failed job says why, with the last lines of failure.json.
        job.goto(f"{url}jobs/{failed.id}")
        expect(job.locator("#failure")).to_be_visible()
        expect(job.locator("#failure-reason")).to_have_text("FloatingPointError: loss diverged to NaN at step 2")
        expect(job.locator("#failure-lines")).to_contain_text("lenet-like: step 2/6")
        job.screenshot(path=str(tmp_path / "ui-job-failed.png"), full_page=True)

        # Compare the two ended jobs from the table's boxes.
        jobs.locator(f'input[value="{finished.id}"]').check()
        jobs.locator(f'input[value="{failed.id}"]').check()
        jobs.locator("#compare-button").click()
        expect(jobs.locator("#differing")).to_contain_text("fail_at")
        expect(jobs.locator('.chart[data-metric="loss"]')).to_contain_text(finished.id)
        jobs.screenshot(path=str(tmp_path / "ui-compare.png"), full_page=True)
        assert jobs.errors == [] and job.errors == []  # type: ignore[attr-defined]
    for name in ("ui-jobs.png", "ui-job.png", "ui-job-failed.png", "ui-compare.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name
    keep_artifacts(tmp_path)


def test_stop_button_stops_a_running_job(store: JobStore, browser_context: BrowserContext, tmp_path: Path) -> None:
    job = submit(store, steps=500, step_seconds=0.5)
    with running(store=store) as url:
        page = fresh_page(browser_context)
        page.goto(f"{url}jobs/{job.id}")
        expect(page.locator("#log")).to_contain_text("lenet-like: step 2/500")
        page.locator("#stop").click()
        expect(page.locator("#state")).to_have_text("STOPPED")
        expect(page.locator("#exit")).to_have_text("exit 143")
        expect(page.locator("#restart-form")).to_be_visible()
        page.screenshot(path=str(tmp_path / "ui-job-stopped.png"), full_page=True)
    keep_artifacts(tmp_path)
    record = store.get(job.id)
    assert record.state is JobState.STOPPED and record.exit_code == 143
