"""A trainer that prints a secret and raises with it in the message: masked in every place the job's text goes."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from loguru import logger

from launcher.logs import setup_logging
from launcher.redact import MASK, StreamRedactor
from tests.launcher.helpers import FIXTURES, run_cli
from tests.reliability.test_secrets_never_shown import SECRET, SECRET_ENV, assert_clean


def test_a_trainer_exception_quoting_a_secret_is_masked_everywhere(launcher_home: Path) -> None:
    submitted = run_cli("submit", str(FIXTURES / "toy_leaker.yaml"), env=SECRET_ENV)
    assert submitted.returncode == 1, submitted.stdout + submitted.stderr
    job_id = next(line.split()[1] for line in submitted.stdout.splitlines() if line.startswith("job "))
    # The CLI summary: the reason is there, the secret is not.
    assert f"PermissionError: the store refused key {MASK} (token {MASK})" in submitted.stdout
    assert_clean(submitted.stdout + submitted.stderr, "the CLI summary")
    status = run_cli("status", job_id, env=SECRET_ENV)
    assert f"refused key {MASK}" in status.stdout
    assert_clean(status.stdout + status.stderr, "launcher status")
    logs = run_cli("logs", job_id, env=SECRET_ENV)
    # Printed in two writes 0.2 s apart: masked across the split (a log line of the entry may land in between).
    assert "toy: connecting with " in logs.stdout and f"{MASK}\n" in logs.stdout
    assert_clean(logs.stdout + logs.stderr, "launcher logs")
    with sqlite3.connect(launcher_home / "jobs.sqlite") as db:
        (reason,) = db.execute("SELECT reason FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert f"refused key {MASK}" in reason
    assert_clean(reason, "the job store's reason column")
    # Every file the job left: failure.json and error-rank-0.json in the job folder, the captured output, and
    # everything pushed to train_url (the embedded store lives under LAUNCHER_HOME too).
    files = [p for p in launcher_home.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"failure.json", "error-rank-0.json", "job.log", f"{job_id}-proc-rank-0-device-0.txt"} <= names, names
    stored = [p for p in files if "objects" in p.parts]
    assert any(p.name == "failure.json" for p in stored)
    for path in files:
        assert_clean(path.read_bytes().decode("utf-8", "replace"), str(path))


def test_tracebacks_logged_with_logger_exception_are_masked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SECRET_ACCESS_KEY", SECRET)
    setup_logging()
    try:
        raise ConnectionError(f"refused {os.environ['SECRET_ACCESS_KEY']}")
    except ConnectionError:
        logger.exception("boot failed")
    err = capsys.readouterr().err
    assert f"ConnectionError: refused {MASK}" in err and "Traceback" in err
    assert SECRET not in err


def test_a_secret_split_anywhere_across_chunks_is_masked() -> None:
    environ = {"SECRET_ACCESS_KEY": SECRET, "HOME": "/root"}
    text = f"key={SECRET}; again {SECRET[:5]} then {SECRET}\n".encode()
    for cut in range(len(text) + 1):
        for second_cut in (cut, min(len(text), cut + 3), len(text)):
            redactor = StreamRedactor(environ)
            chunks = [text[:cut], text[cut:second_cut], text[second_cut:]]
            out = b"".join(redactor.feed(c) for c in chunks) + redactor.flush()
            assert out == f"key={MASK}; again {SECRET[:5]} then {MASK}\n".encode(), (cut, second_cut)
