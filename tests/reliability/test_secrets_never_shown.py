"""Credentials in the environment never reach a log, an error, a rendered request or a stored output."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.launcher.helpers import FIXTURES, run_cli

SECRET = "TopSecret-4f9a1c-NeverPrint"
SECRET_ENV = {
    "SECRET_ACCESS_KEY": SECRET,
    "AWS_SECRET_ACCESS_KEY": SECRET,
    "AWS_SESSION_TOKEN": SECRET + "-token",
    "HUAWEICLOUD_SDK_SK": SECRET + "-sk",
    "ACCESS_KEY_ID": "AKIDTESTONLY",
}
SECRETS = [SECRET, SECRET + "-token", SECRET + "-sk"]


def assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a secret leaked into {where}"


@pytest.mark.parametrize("backend", ["local", "docker", "modelarts", "volcano"])
def test_render_masks_secrets(backend: str) -> None:
    extra = {"modelarts": ["--flavor", "modelarts.vm.cpu.8u", "--region", "cn-north-4", "--project_id", "p1"]}.get(backend, [])
    result = run_cli("render", str(FIXTURES / "toy_counter.yaml"), "--backend", backend, *extra, env=SECRET_ENV)
    assert_clean(result.stdout + result.stderr, f"render --backend {backend}")
    assert result.returncode in (0, 2), result.stderr  # 2: a clear refusal (e.g. no cluster), still no secret


def test_a_whole_job_leaves_no_secret_anywhere(launcher_home: Path) -> None:
    submitted = run_cli("submit", str(FIXTURES / "toy_counter.yaml"), "--steps", "2", "--note", "hello", env=SECRET_ENV)
    failed = run_cli("submit", str(FIXTURES / "toy_crasher.yaml"), env=SECRET_ENV)
    bad = run_cli("data", "ls", "s3://nowhere/x", env={**SECRET_ENV, "S3_ENDPOINT": "http://127.0.0.1:9"})
    for result, name in ((submitted, "submit"), (failed, "failed submit"), (bad, "unreachable endpoint")):
        assert_clean(result.stdout + result.stderr, name)
    assert submitted.returncode == 0 and failed.returncode == 1 and bad.returncode != 0
    files = [p for p in launcher_home.rglob("*") if p.is_file()]
    assert any(p.name == "job.log" for p in files) and any(p.name == "failure.json" for p in files)
    for path in files:
        assert_clean(path.read_bytes().decode("utf-8", "replace"), str(path))
