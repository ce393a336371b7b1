"""Loguru set-up shared by the CLI and the entry: one stderr sink, secrets redacted in every message.

The sink masks the whole formatted text, so a traceback from `logger.exception` (an exception's message and the
source lines it quotes) is masked too, not only the message.
"""

from __future__ import annotations

import sys
from typing import Any

from loguru import logger

from launcher.redact import redact

_FORMAT = "{time:YYYY-MM-DD HH:mm:ss} | {level: <7} | {message}"


def _redact_record(record: Any) -> None:
    record["message"] = redact(record["message"])


def _write_redacted(message: str) -> None:
    try:
        sys.stderr.write(redact(message))
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed or its disk full: logging must not raise in a failure path
        pass


def setup_logging(level: str = "INFO", fmt: str = _FORMAT) -> None:
    logger.remove()
    logger.configure(patcher=_redact_record)
    logger.add(_write_redacted, level=level, format=fmt, backtrace=False, diagnose=False, colorize=False)
