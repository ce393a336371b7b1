"""`launcher ui` as a user runs it: prints the URL it serves, a token only off loopback, a busy port is one line."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.launcher.helpers import REPO, run_cli


@contextmanager
def launcher_ui(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    command = [sys.executable, "-m", "launcher", "ui", "--port", "0", *args]
    child = subprocess.Popen(command, cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = child.stdout.readline() if child.stdout else ""
        assert first.startswith("launcher ui: http://"), first + (child.stderr.read() if child.poll() is not None and child.stderr else "")
        yield child, first
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise AssertionError("launcher ui did not stop on Ctrl-C") from None


def test_ui_serves_loopback_without_token_and_stops_on_ctrl_c() -> None:
    with launcher_ui() as (child, first):
        url = first.split(": ", 1)[1].strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url) and "token" not in first
        page = httpx.get(url, timeout=30)
        assert page.status_code == 200 and "No jobs yet" in page.text
    assert child.returncode == 0 or child.returncode == -signal.SIGINT


def test_other_host_prints_a_token_once_and_requires_it() -> None:
    with launcher_ui("--host", "0.0.0.0") as (child, first):
        match = re.fullmatch(r"launcher ui: (http://127\.0\.0\.1:\d+/)\?token=(\S+)\n", first)
        assert match, first
        url, token = match.groups()
        assert httpx.get(url, timeout=30).status_code == 401
        assert httpx.get(url, headers={"x-launcher-token": token}, timeout=30).status_code == 200


def test_busy_port_is_a_one_line_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("ui", "--port", str(port), timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == f"launcher: error: port {port} on 127.0.0.1 is in use: pick another with --port (0 = any free port)"
