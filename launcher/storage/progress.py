"""Progress for long transfers: a tqdm bar (bytes, rate, ETA, files) on a TTY, a plain log line otherwise."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from launcher.logs import logger
from launcher.storage.models import human_bytes

LOG_EVERY_S = 10.0

if TYPE_CHECKING:
    from tqdm import tqdm


class Progress:
    """Counts files and bytes; `show` None means bars when stderr is a terminal."""

    def __init__(self, label: str, show: bool | None = None) -> None:
        self.label = label
        self.tty = sys.stderr.isatty() if show is None else show
        self.quiet = show is False
        self.files_total = 0
        self.bytes_total = 0
        self.files_done = 0
        self.bytes_done = 0
        self._start = time.monotonic()
        self._last_log = self._start
        self._bar: tqdm | None = None

    def start(self, files: int, nbytes: int) -> None:
        self.files_total, self.bytes_total = files, nbytes
        self._start = self._last_log = time.monotonic()
        if self.tty and not self.quiet and files:
            from tqdm import tqdm  # only when a bar is drawn: saves start-up time for every other run

            self._bar = tqdm(
                total=nbytes, unit="B", unit_scale=True, unit_divisor=1024, desc=self.label, file=sys.stderr, leave=True
            )
            self._bar.set_postfix_str(f"files 0/{files}", refresh=False)

    def add_bytes(self, n: int) -> None:
        self.bytes_done += n
        if self._bar is not None:
            self._bar.update(n)
        else:
            self._maybe_log()

    def file_done(self) -> None:
        self.files_done += 1
        if self._bar is not None:
            self._bar.set_postfix_str(f"files {self.files_done}/{self.files_total}", refresh=False)
        else:
            self._maybe_log()

    def _maybe_log(self) -> None:
        now = time.monotonic()
        if self.quiet or now - self._last_log < LOG_EVERY_S:
            return
        self._last_log = now
        elapsed = now - self._start
        rate = self.bytes_done / elapsed if elapsed else 0.0
        left = self.bytes_total - self.bytes_done
        eta = f", ETA {left / rate:.0f}s" if rate > 0 and left > 0 else ""
        logger.info(
            "{}: {}/{} files, {}/{} ({}/s{})",
            self.label,
            self.files_done,
            self.files_total,
            human_bytes(self.bytes_done),
            human_bytes(self.bytes_total),
            human_bytes(rate),
            eta,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
