"""A job is done only when its outputs are stored; storage outages are restartable (EXIT_INFRA), not bad input.

Real entry processes, a real SeaweedFS server behind a fault proxy that starts failing on cue (500 InternalError
on every request, what an object store in an outage answers), and a trainer that leaves hostile links behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from entry.contract import EXIT_BAD_INPUT, EXIT_INFRA
from launcher import storage
from launcher.paths import objects_root
from tests.launcher.helpers import FIXTURES, REPO, wait_for
from tests.reliability.faultproxy import FaultProxy

ENTRY = REPO / "entry" / "modelarts_entry_acc.py"
ALWAYS = 10**9  # FaultProxy: fail every request from now on


def entry_command(tmp_path: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    env = {
        **os.environ,
        "LAUNCHER_JOB_ID": "job-1",
        "LAUNCHER_WORK_DIR": str(tmp_path / "work"),
        "PYTHONPATH": os.pathsep.join([str(FIXTURES), str(REPO)]),
    }
    return [sys.executable, str(ENTRY), *args], env


def run_entry(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv, env = entry_command(tmp_path, *args)
    return subprocess.run(argv, cwd=FIXTURES, env=env, capture_output=True, text=True, timeout=300)


def local_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("hello\n")
    (data / "sub" / "b.txt").write_text("deep\n")
    return data


def local_failure(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "work" / "output" / "logs" / "failure.json").read_text())


def log_text(tmp_path: Path) -> str:
    path = tmp_path / "work" / "output" / "logs" / "job-1-proc-rank-0-device-0.txt"
    return path.read_text() if path.exists() else ""


def test_outputs_that_never_reach_train_url_fail_the_job_as_infrastructure(
    s3: str, seaweed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    train_url = f"s3://{s3}/out/"
    with FaultProxy(seaweed.endpoint, "error", failures=0) as proxy:
        monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
        argv, env = entry_command(
            tmp_path, f"--data_url={local_data(tmp_path)}", f"--train_url={train_url}", "--recipe=toy_counter.yaml",
            '--hyperparameters={"steps": 40, "step_seconds": 0.1}', "--push_attempts=2",
        )
        job = subprocess.Popen(argv, cwd=FIXTURES, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: "toy: step 2\n" in log_text(tmp_path), timeout=120)
            proxy.failures = ALWAYS  # the store goes down while the trainer runs, and stays down
            _, stderr = job.communicate(timeout=240)
        finally:
            if job.poll() is None:
                job.kill()
                job.wait()
    assert job.returncode == EXIT_INFRA, stderr  # before: 0 (SUCCEEDED) after two "push incomplete" warnings
    output_dir = tmp_path / "work" / "output"
    reason = local_failure(tmp_path)["reason"]
    assert f"outputs were not saved to {train_url}" in reason and f"the local copy is in {output_dir}" in reason
    assert local_failure(tmp_path)["exit_code"] == EXIT_INFRA
    assert "final push" in stderr and "Traceback" not in stderr
    assert (output_dir / "checkpoints" / "step-000000040" / "MANIFEST.json").is_file()  # the local copy is whole


def test_a_restore_listing_that_fails_stops_the_job_instead_of_starting_from_step_0(
    s3: str, seaweed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    with FaultProxy(seaweed.endpoint, "error", failures=ALWAYS) as proxy:
        monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
        result = run_entry(
            tmp_path, f"--data_url={local_data(tmp_path)}", f"--train_url=s3://{s3}/resume/",
            "--recipe=toy_counter.yaml", "--push_attempts=1",
        )
    assert result.returncode == EXIT_INFRA, result.stderr  # before: trained from step 0 and exited 0
    assert proxy.injected >= 3  # the listing was retried
    assert "toy: step 1" not in log_text(tmp_path)  # the trainer never started
    reason = local_failure(tmp_path)["reason"]
    assert reason.startswith(f"restore: listing s3://{s3}/resume/checkpoints/ failed") and "500" in reason
    assert "Traceback" not in result.stderr


def test_a_store_outage_during_the_data_sync_is_restartable_not_bad_input(
    s3: str, seaweed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    storage.sync(str(local_data(tmp_path)), f"s3://{s3}/data/")
    with FaultProxy(seaweed.endpoint, "error", failures=ALWAYS) as proxy:
        monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
        result = run_entry(
            tmp_path, f"--data_url=s3://{s3}/data/", f"--train_url={tmp_path / 'out'}", "--recipe=toy_counter.yaml"
        )
    assert result.returncode == EXIT_INFRA, result.stderr  # before: 2, which Volcano aborts on
    assert proxy.injected > 0 and "toy: step 1" not in log_text(tmp_path)
    assert local_failure(tmp_path)["exit_code"] == EXIT_INFRA and "500" in local_failure(tmp_path)["reason"]
    assert json.loads((tmp_path / "out" / "logs" / "failure.json").read_text())["exit_code"] == EXIT_INFRA  # pushed


def test_what_the_user_must_fix_stays_exit_2(s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unknown_bucket = run_entry(
        tmp_path, f"--data_url=s3://{s3}-missing/data/", f"--train_url={tmp_path / 'out'}", "--recipe=toy_counter.yaml"
    )
    assert unknown_bucket.returncode == EXIT_BAD_INPUT and f"{s3}-missing" in unknown_bucket.stderr
    no_train_bucket = run_entry(
        tmp_path, f"--data_url={local_data(tmp_path)}", f"--train_url=s3://{s3}-gone/out/", "--recipe=toy_counter.yaml"
    )
    assert no_train_bucket.returncode == EXIT_BAD_INPUT and f"{s3}-gone" in no_train_bucket.stderr
    assert "toy: step 1" not in log_text(tmp_path)  # refused before training, not after it at the push
    monkeypatch.setenv("SECRET_ACCESS_KEY", "wrong-secret-key-1234")
    wrong_key = run_entry(
        tmp_path, f"--data_url=s3://{s3}/data/", f"--train_url={tmp_path / 'out'}", "--recipe=toy_counter.yaml"
    )
    assert wrong_key.returncode == EXIT_BAD_INPUT and "was refused" in wrong_key.stderr
    assert "wrong-secret-key-1234" not in wrong_key.stderr


def test_links_left_in_the_output_folder_do_not_break_or_leak_through_the_push(tmp_path: Path) -> None:
    result = run_entry(
        tmp_path, f"--data_url={local_data(tmp_path)}", "--train_url=obs://toy-bucket/linked/", "--recipe=toy_linker.yaml",
        '--hyperparameters={"steps": 2}',
    )
    assert result.returncode == 0, result.stderr
    out = objects_root() / "toy-bucket" / "linked"
    stored = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert "result.txt" in stored and (out / "result-link.txt").read_text() == "the real output\n"
    assert "checkpoints/step-000000002/MANIFEST.json" in stored  # before: the push failed on the loop; nothing stored
    for name in ("self", "escape", "environ", "dangling"):
        assert not any(s == name or s.startswith(name + "/") for s in stored), name
    assert not any("not-an-output" in s for s in stored)
    for name in ("self", "escape", "environ", "dangling"):  # one warning per link, however many pushes ran
        assert result.stderr.count(f"symbolic link {name}") == 1, result.stderr
