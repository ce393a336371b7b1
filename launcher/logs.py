"""Loguru set-up shared by the CLI and the entry: one stderr sink, secrets redacted in every message."""

from __future__ import annotations

import sys
from typing import Any

from loguru import logger

from launcher.redact import redact

_FORMAT = "{time:YYYY-MM-DD HH:mm:ss} | {level: <7} | {message}"


def _redact_record(record: Any) -> None:
    record["message"] = redact(record["message"])


def setup_logging(level: str = "INFO", fmt: str = _FORMAT) -> None:
    logger.remove()
    logger.configure(patcher=_redact_record)
    logger.add(sys.stderr, level=level, format=fmt, backtrace=False, diagnose=False)
