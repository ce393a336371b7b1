"""Progress: plain log lines (files, bytes, rate, ETA) when there is no terminal."""

from __future__ import annotations

import pytest
from loguru import logger

from launcher.storage import progress as progress_module
from launcher.storage.progress import Progress


def test_log_lines_carry_files_bytes_rate_and_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "LOG_EVERY_S", 0.0)
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), format="{message}", level="INFO")
    try:
        bar = Progress("up", show=None)
        bar.tty = False
        bar.start(files=4, nbytes=4096)
        bar.add_bytes(1024)
        bar.file_done()
        bar.close()
    finally:
        logger.remove(sink)
    assert lines, "no progress line was logged"
    assert "up: 1/4 files" in lines[-1] and "1.0 KiB/4.0 KiB" in lines[-1] and "/s" in lines[-1] and "ETA" in lines[-1]


def test_quiet_progress_logs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "LOG_EVERY_S", 0.0)
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), format="{message}", level="INFO")
    try:
        bar = Progress("up", show=False)
        bar.start(files=2, nbytes=10)
        bar.add_bytes(10)
        bar.file_done()
        bar.close()
    finally:
        logger.remove(sink)
    assert lines == []
