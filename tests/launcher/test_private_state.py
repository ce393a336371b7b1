"""LAUNCHER_HOME, the job store, job folders and logs are private whatever the umask; exposed profiles warn."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from launcher.backends import get_backend
from launcher.cli import seed_demo_data
from launcher.jobs import JobState, JobStore
from launcher.jobspec import plan_job
from launcher.paths import launcher_home, private_dir, touch_private, write_private
from launcher.storage.profiles import read_profile_file
from tests.launcher.helpers import FIXTURES, wait_terminal


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_a_local_job_leaves_only_private_folders_and_files(umask: int, launcher_home: Path) -> None:
    store = JobStore()
    backend = get_backend("local", store, {"grace_seconds": 10})
    spec = plan_job(FIXTURES / "toy_counter.yaml", {"steps": 1})
    seed_demo_data(spec)
    record = wait_terminal(store, backend.submit(spec).id, backend)
    assert record.state is JobState.SUCCEEDED, record.reason

    job_dir = launcher_home / "jobs" / record.id
    assert mode(launcher_home) == 0o700
    assert mode(launcher_home / "jobs") == 0o700
    assert mode(job_dir) == 0o700
    store_files = [p for p in launcher_home.iterdir() if p.name.startswith("jobs.sqlite")]
    assert launcher_home / "jobs.sqlite" in store_files
    for path in [*store_files, *(job_dir / name for name in ("job.log", "supervisor.log", "request.json"))]:
        assert mode(path) == 0o600, path


def test_an_existing_world_readable_store_is_tightened(launcher_home: Path) -> None:
    launcher_home.mkdir()
    JobStore()
    for path in launcher_home.glob("jobs.sqlite*"):
        os.chmod(path, 0o644)
    JobStore()
    modes = {p.name: mode(p) for p in launcher_home.glob("jobs.sqlite*")}
    assert "jobs.sqlite" in modes and set(modes.values()) == {0o600}, modes


def test_private_helpers_ignore_the_umask_and_refuse_planted_links(tmp_path: Path, umask: int) -> None:
    made = private_dir(tmp_path / "a" / "b" / "c")
    assert [mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", made)] == [0o700] * 3
    write_private(made / "f.json", "{}")
    assert mode(made / "f.json") == 0o600 and (made / "f.json").read_text() == "{}"
    (made / "log").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):
        touch_private(made / "log")
    assert not (tmp_path / "elsewhere").exists()


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lines.append, level="WARNING", format="{message}")
    yield lines
    logger.remove(sink)


def test_profiles_open_to_others_warn_once_in_one_line(warnings: list[str]) -> None:
    profiles = launcher_home() / "profiles.toml"
    profiles.write_text('[default]\nendpoint = "http://127.0.0.1:9"\n')
    os.chmod(profiles, 0o644)
    read_profile_file("default")
    read_profile_file("default")
    assert len(warnings) == 1
    assert str(profiles) in warnings[0] and "0644" in warnings[0] and "chmod 600" in warnings[0]
    assert "\n" not in warnings[0].rstrip("\n")


def test_private_profiles_do_not_warn(warnings: list[str]) -> None:
    profiles = launcher_home() / "profiles.toml"
    write_private(profiles, '[default]\nendpoint = "http://127.0.0.1:9"\n')
    read_profile_file("default")
    assert warnings == []
