"""Loguru set-up shared by the CLI and the entry: one stderr sink, secrets redacted in every message.

The sink masks the whole formatted text, so a traceback from `logger.exception` (an exception's message and the
source lines it quotes) is masked too, not only the message.

`logger` here is loguru's own logger, imported on first use: a `launcher data` command that logs nothing never
imports loguru (~40 ms of a 0.3 s budget on 2 vCPU: loguru imports asyncio's, multiprocessing's and logging's
machinery). A `setup_logging` made before that first use is applied at that moment, and loguru's default
stderr handler, which it would remove at once, is then never built. Every module logs through this name.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from launcher.redact import redact

if TYPE_CHECKING:
    from loguru import Logger

_FORMAT = "{time:YYYY-MM-DD HH:mm:ss} | {level: <7} | {message}"
_pending: tuple[str, str] | None = None  # (level, format) asked for before loguru was imported


def _redact_record(record: Any) -> None:
    record["message"] = redact(record["message"])


def _write_redacted(message: str) -> None:
    try:
        sys.stderr.write(redact(message))
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed or its disk full: logging must not raise in a failure path
        pass


def _configure(real: Logger, level: str, fmt: str) -> None:
    real.remove()
    real.configure(patcher=_redact_record)
    real.add(_write_redacted, level=level, format=fmt, backtrace=False, diagnose=False, colorize=False)


def _import_loguru() -> Logger:
    global _pending
    pending, _pending = _pending, None
    # Our sink replaces loguru's default handler: do not let loguru build it (the variable is not left behind
    # for child processes; a value the user set is kept).
    ours = pending is not None and "loguru" not in sys.modules and "LOGURU_AUTOINIT" not in os.environ
    if ours:
        os.environ["LOGURU_AUTOINIT"] = "false"
    try:
        from loguru import logger as real
    finally:
        if ours:
            del os.environ["LOGURU_AUTOINIT"]
    if pending is not None:
        _configure(real, *pending)
    return real


_SEVERITY = {"trace": 5, "debug": 10, "info": 20, "success": 25, "warning": 30, "error": 40, "critical": 50}


def _discard(*args: object, **kwargs: object) -> None:
    return None


class _Logger:
    """Stands for loguru's logger; the first attribute asked for imports loguru and then gives loguru's own."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        pending = _pending
        if pending is not None and _SEVERITY.get(name, 100) < _SEVERITY.get(pending[0].lower(), 0):
            return _discard  # below the level asked for: the sink would drop it, loguru need not load for it
        real = _import_loguru()
        globals()["logger"] = real  # later `from launcher.logs import logger` gets loguru's object itself
        return getattr(real, name)


logger: Logger = _Logger()  # type: ignore[assignment]


def setup_logging(level: str = "INFO", fmt: str = _FORMAT) -> None:
    """One redacting stderr sink at `level`, now if loguru is loaded, else when the first message is logged."""
    global _pending
    if "loguru" in sys.modules:
        from loguru import logger as real

        _pending = None
        _configure(real, level, fmt)
    else:
        _pending = (level, fmt)
