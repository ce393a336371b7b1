"""Push the output dir to train_url: while the job runs, on SIGTERM and at the end.

Two rules keep the store consistent with what the trainer wrote:
- folders still being written (`.<name>.partial`, `.<name>.restoring`) are never pushed;
- manifests go last: the checkpoints complete *before* the files are listed are noted first; then files are pushed
  (manifests held back); then only the noted checkpoints' manifests. A checkpoint published while the files were
  being listed waits for the next push, so a manifest never reaches the store before the files it lists.
Only the chief pushes the whole folder. Another rank pushes the files named for it (`*rank-<r>-*`, `*rank-<r>.*`):
its log, `perf/rank-<r>.json`, anything a trainer names that way; so two ranks never write the same key.
The folder is listed without following links out of it (entry/output_folder.py). A push while the job runs may
fail (the next one retries); the final push is retried and its failure is the job's (see `final_push`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from tenacity import Retrying, stop_after_attempt, wait_exponential

from entry.checkpoints import MANIFEST
from entry.environment import JobEnvironment
from entry.failure import describe_error
from entry.output_folder import OutputFolder
from launcher.logs import logger
from launcher.storage import SyncOptions, SyncReport, runner
from launcher.storage.session import Session
from launcher.storage.sync_engine import SyncEngine, raise_on_failures

IN_PROGRESS = ["*.partial/*", "*.restoring/*", "*.partial", "*.restoring"]


def push(env: JobEnvironment, train_url: str) -> bool:
    """One push; returns False (and logs why) when some file could not be pushed: the next push retries it."""
    try:
        report = push_or_raise(env, train_url)
    except Exception as error:  # a failed push must not stop training or hide the job's own outcome
        logger.warning("push to {} incomplete: {}", train_url, describe_error(error))
        return False
    logger.debug("pushed: {}", report.summary())
    return True


def final_push(env: JobEnvironment, train_url: str, attempts: int = 3, first_wait_s: float = 1.0) -> Exception | None:
    """The push at the end of the job, retried with backoff; None once everything is stored, else the last error."""
    retrying = Retrying(
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait_exponential(multiplier=first_wait_s, max=30),
        reraise=True,
        before_sleep=lambda state: logger.warning(
            "final push to {} failed (attempt {} of {}): {}; retrying",
            train_url, state.attempt_number, attempts, describe_error(state.outcome.exception()),
        ),
    )
    try:
        report = retrying(push_or_raise, env, train_url)
    except Exception as error:
        return error
    logger.info("outputs stored: {}", report.summary())
    return None


def push_or_raise(env: JobEnvironment, train_url: str) -> SyncReport:
    """One push of what this rank owns; raises (TransferFailed, StorageError, OSError) when it is incomplete."""
    if env.is_chief:
        ready = sorted(_complete_checkpoints(env.checkpoint_dir))
        report = _sync(env, train_url, exclude=[*IN_PROGRESS, MANIFEST])
        if ready:
            rel = env.checkpoint_dir.relative_to(env.output_dir).as_posix()
            _sync(env, train_url, include=[f"{rel}/{name}/{MANIFEST}" for name in ready])
        return report
    return _sync(env, train_url, include=rank_files(env.rank), exclude=IN_PROGRESS)


def _sync(env: JobEnvironment, train_url: str, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> SyncReport:
    options = SyncOptions(include=list(include), exclude=list(exclude))

    async def work() -> SyncReport:
        async with Session() as session:
            dst_store, dst_key = session.open(train_url)
            source = OutputFolder(str(env.output_dir))
            return await SyncEngine(session, options).run_between(source, "", dst_store, dst_key)

    return raise_on_failures(runner.run(work))


def rank_files(rank: int) -> list[str]:
    """Globs for the files that belong to one rank (`rank-1` must not also match `rank-10`)."""
    return [f"*rank-{rank}-*", f"*rank-{rank}.*", f"*rank-{rank}"]


def _complete_checkpoints(checkpoint_dir: Path) -> set[str]:
    if not checkpoint_dir.is_dir():
        return set()
    return {p.parent.name for p in checkpoint_dir.glob(f"step-*/{MANIFEST}")}


class PeriodicPusher:
    """Pushes every `interval` seconds, and within `poll` seconds of a new complete checkpoint."""

    def __init__(self, env: JobEnvironment, train_url: str, interval: float = 60.0, poll: float = 2.0) -> None:
        self.env = env
        self.train_url = train_url
        self.interval = interval
        self.poll = poll
        self._stop = threading.Event()
        self._lock = threading.Lock()  # a push never overlaps another (periodic vs final)
        self._thread = threading.Thread(target=self._run, name="pusher", daemon=True)

    def __enter__(self) -> PeriodicPusher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def push_now(self) -> bool:
        with self._lock:
            return push(self.env, self.train_url)

    def _run(self) -> None:
        seen: set[str] = set()  # restored checkpoints are pushed once too: a no-op sync when already stored
        last = time.monotonic()
        while not self._stop.wait(self.poll):
            current = _complete_checkpoints(self.env.checkpoint_dir)
            if current - seen or time.monotonic() - last >= self.interval:
                if current - seen:
                    logger.info("pushing new checkpoint(s): {}", ", ".join(sorted(current - seen)))
                self.push_now()
                seen = current
                last = time.monotonic()
