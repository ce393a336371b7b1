"""Bring the newest complete checkpoint under train_url back into the job, so a restarted job resumes.

Candidates are `train_url/checkpoints/step-<N>/` folders, newest first. One counts only when, once downloaded,
its manifest (uploaded last by the pusher) lists files that are all there with their sizes and checksums; a
corrupted one is skipped for the previous complete one. A listing or download that fails is retried; if it still
fails the job stops as an infrastructure failure (RestoreFailed, exit EXIT_INFRA) instead of silently starting
again from step 0 and, at its next push, burying the checkpoints it could not see.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from entry.checkpoints import MANIFEST, is_complete
from entry.contract import EXIT_BAD_INPUT, EXIT_INFRA
from entry.failure import classify, describe_error
from launcher import storage
from launcher.logs import logger

_STEP = re.compile(r"/?(step-(\d+))/?$")
T = TypeVar("T")
ATTEMPTS = 3


class RestoreFailed(Exception):
    """The checkpoints under train_url could not be listed or fetched after retries: exit EXIT_INFRA."""

    exit_code = EXIT_INFRA


def _retried(what: str, call: Callable[[], T], first_wait_s: float = 1.0) -> T:
    """`call()` with backoff on errors that may pass (not on ones the user must fix); RestoreFailed after that."""
    retrying = Retrying(
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_exponential(multiplier=first_wait_s, max=30),
        retry=retry_if_exception(lambda e: classify(e) != EXIT_BAD_INPUT),
        reraise=True,
        before_sleep=lambda state: logger.warning(
            "restore: {} failed (attempt {} of {}): {}; retrying",
            what, state.attempt_number, ATTEMPTS, describe_error(state.outcome.exception()),
        ),
    )
    try:
        return retrying(call)
    except Exception as error:
        if classify(error) == EXIT_BAD_INPUT:
            raise
        raise RestoreFailed(f"restore: {what} failed: {describe_error(error)}") from error


def _candidates(checkpoints_url: str) -> list[tuple[int, str]]:
    # An empty or missing folder lists as []: a first run. A missing bucket raises NotFound (exit 2, before any
    # training): every push would fail on it.
    names = _retried(f"listing {checkpoints_url}", lambda: storage.ls(checkpoints_url))
    found = []
    for name in names:
        match = _STEP.search(name.rstrip("/"))
        if match:
            found.append((int(match.group(2)), match.group(1)))
    return sorted(found, reverse=True)


def restore_latest(train_url: str, checkpoint_dir: Path) -> Path | None:
    """Download the newest complete remote checkpoint into checkpoint_dir; its local path, or None."""
    checkpoints_url = train_url.rstrip("/") + "/checkpoints/"
    for step, name in _candidates(checkpoints_url):
        local = checkpoint_dir / name
        if is_complete(local, verify=True):
            logger.info("restore: step {} is already here", step)
            return local
        if not _retried(f"checking {checkpoints_url}{name}", lambda: storage.exists(f"{checkpoints_url}{name}/{MANIFEST}")):
            logger.warning("restore: skipping {}{}: no manifest (upload was cut short)", checkpoints_url, name)
            continue
        partial = checkpoint_dir / f".{name}.restoring"
        shutil.rmtree(partial, ignore_errors=True)
        _retried(f"downloading {checkpoints_url}{name}", lambda: storage.sync(f"{checkpoints_url}{name}/", str(partial)))
        if not is_complete(partial, verify=True):
            logger.warning("restore: skipping {}{}: files missing, of the wrong size or corrupted", checkpoints_url, name)
            shutil.rmtree(partial, ignore_errors=True)
            continue
        shutil.rmtree(local, ignore_errors=True)
        partial.rename(local)
        logger.info("restore: resuming from {}{} (step {})", checkpoints_url, name, step)
        return local
    return None
