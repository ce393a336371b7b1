"""launcher.logs: loguru loads on the first message that will be shown, through our one redacting sink.

Each case runs in a fresh interpreter: whether loguru is imported is the point, and pytest has it loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

_CASE = """
import json, os, sys
from launcher.logs import logger, setup_logging
from launcher.redact import register_secret

register_secret("sk-logged-secret-1")
setup_logging("INFO")
logger.debug("not shown {}", 1)
after_debug = "loguru" in sys.modules
logger.warning("pushing with sk-logged-secret-1 failed")
import loguru
print(json.dumps({
    "after_debug": after_debug,
    "after_warning": "loguru" in sys.modules,
    "handlers": loguru.logger._core.handlers_count,
    "autoinit_left": os.environ.get("LOGURU_AUTOINIT"),
}))
"""


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "LOGURU_AUTOINIT"} | env
    return subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=60)


def test_loguru_loads_on_the_first_shown_message_with_one_redacting_sink() -> None:
    done = _run(_CASE)
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert state == {"after_debug": False, "after_warning": True, "handlers": 1, "autoinit_left": None}
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "| WARNING | pushing with *** failed" in lines[0], done.stderr
    assert "not shown" not in done.stderr and "sk-logged-secret-1" not in done.stderr


def test_debug_messages_are_shown_when_debug_was_asked_for() -> None:
    done = _run(_CASE.replace('setup_logging("INFO")', 'setup_logging("DEBUG")'))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["after_debug"] is True
    assert "| DEBUG   | not shown 1" in done.stderr


def test_set_up_after_loguru_is_loaded_applies_at_once_and_a_users_autoinit_is_kept() -> None:
    code = _CASE.replace('from launcher.logs import', 'import loguru\nfrom launcher.logs import')
    done = _run(code, LOGURU_AUTOINIT="true")
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    # loguru's default handler was built at import (the user's setting), then replaced by ours: 2 ever added
    assert state["handlers"] == 2 and state["autoinit_left"] == "true"
    assert "sk-logged-secret-1" not in done.stderr and "pushing with *** failed" in done.stderr


def test_without_set_up_the_library_logs_as_loguru_does() -> None:
    done = _run("from launcher.logs import logger\nlogger.info('plain {}', 'message')")
    assert done.returncode == 0 and "plain message" in done.stderr  # loguru's own default stderr handler
