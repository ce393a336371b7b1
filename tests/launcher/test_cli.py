"""The CLI as a user runs it: one-line errors with exit code 2, follow to the end, render without secrets."""

from __future__ import annotations

from tests.launcher.helpers import FIXTURES, run_cli

TOY = str(FIXTURES / "toy_counter.yaml")
SECRET = "S3cr3t-Value-For-Tests-0451"


def assert_one_line_error(result, *fragments: str) -> None:  # noqa: ANN001
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("launcher: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.stderr


def test_wrong_override_type_is_one_line_naming_the_field() -> None:
    result = run_cli("submit", TOY, "--steps", "two")
    assert_one_line_error(result, "steps: Input should be a valid integer", "'two'")


def test_unknown_override_is_rejected() -> None:
    assert_one_line_error(run_cli("submit", TOY, "--stepz", "3"), "stepz: unknown key")


def test_missing_recipe_file() -> None:
    assert_one_line_error(run_cli("submit", "recipes/nope.yaml"), "recipe file not found: recipes/nope.yaml")


def test_malformed_recipe(tmp_path) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [x\n")
    assert_one_line_error(run_cli("submit", str(bad)), "malformed YAML at line")


def test_unknown_backend_and_device() -> None:
    assert_one_line_error(run_cli("submit", TOY, "--backend", "slurm"), "unknown backend 'slurm'; choose one of: local, docker")
    assert_one_line_error(run_cli("render", TOY, "--count", "zero"), "--count: Input should be a valid integer")
    assert_one_line_error(run_cli("render", TOY, "--grace_seconds", "-1"), "local backend options: grace_seconds: Input should be greater than or equal to 0")
    assert_one_line_error(run_cli("render", TOY, "--device", "tpu:0"), "unknown device 'tpu:0'")


def test_unknown_job() -> None:
    for command in ("status", "logs", "stop"):
        assert_one_line_error(run_cli(command, "no-such-job"), "no job 'no-such-job'")


def test_debug_shows_the_traceback() -> None:
    result = run_cli("--debug", "status", "no-such-job")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_submit_follows_to_the_end_and_summarises() -> None:
    result = run_cli("submit", TOY, "--steps", "2", "--flag", "True")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "toy: step 2" in result.stdout
    summary = [line for line in result.stdout.splitlines() if line.startswith("job toy-counter-")]
    assert summary and "SUCCEEDED (exit 0)" in summary[-1]
    assert "accuracy 0.5" in result.stdout
    assert "outputs: obs://toy-bucket/jobs/toy-counter-" in result.stdout
    listing = run_cli("list")
    assert listing.returncode == 0 and "SUCCEEDED" in listing.stdout


def test_submit_exits_with_the_jobs_exit_code() -> None:
    result = run_cli("submit", str(FIXTURES / "toy_crasher.yaml"))
    assert result.returncode == 1
    assert "FAILED (exit 1)" in result.stdout
    assert "FAILED (exit 1) in" in result.stdout and ": RuntimeError: toy trainer exploded at step 2" in result.stdout


def test_detach_returns_at_once_and_status_reports() -> None:
    result = run_cli("submit", TOY, "--steps", "1", "--detach")
    assert result.returncode == 0
    job_id = result.stdout.split()[1]
    follow = run_cli("logs", "-f", job_id)
    assert "toy: step 1" in follow.stdout
    status = run_cli("status", job_id)
    assert f"job {job_id} SUCCEEDED" in status.stdout


def test_render_prints_the_request_without_secrets() -> None:
    env = {"SECRET_ACCESS_KEY": SECRET, "LAUNCHER_API_TOKEN": SECRET}
    result = run_cli("render", TOY, "--note", SECRET, env=env)
    assert result.returncode == 0, result.stderr
    assert "modelarts_entry_acc.py" in result.stdout and "--recipe=toy_counter.yaml" in result.stdout
    assert SECRET not in result.stdout + result.stderr
    assert "***" in result.stdout
