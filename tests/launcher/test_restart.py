"""`restart` replays the job as it was resolved at submit: recipe snapshot, resources, backend options, entry mode."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from launcher.backends.base import JobHandle
from launcher.backends.local.backend import LocalHandle
from launcher.cli import _plan, _plan_restart
from launcher.errors import UserError
from launcher.jobs import JobStore, public_record
from tests.launcher.helpers import FIXTURES, run_cli

SECRET = "Tok3n-Value-For-Restart-Tests"


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    """A toy recipe in its own code dir, so the test can edit it after the submit."""
    shutil.copytree(FIXTURES / "toyjobs", tmp_path / "toyjobs")
    path = tmp_path / "toy.yaml"
    path.write_text((FIXTURES / "toy_counter.yaml").read_text())
    return path


def _docker_job(recipe: Path) -> str:
    flags = {"memory": "2g", "docker.image": "img:1", "steps": "4", "docker.env": json.dumps({"API_TOKEN": SECRET})}
    spec, runner = _plan(str(recipe), flags, backend="docker", perf=True)
    runner.create_record(spec, JobHandle())  # what send stores, without a daemon
    return spec.id


def test_restart_of_a_docker_job_replays_options_resources_and_overrides(recipe: Path) -> None:
    job_id = _docker_job(recipe)
    # The recipe file changes after the submit: the restart keeps what the job was.
    recipe.write_text(recipe.read_text().replace("note: from-recipe", "note: edited").replace("device: cpu", "device: gpu:0"))
    old = JobStore().get(job_id)
    spec, runner = _plan_restart(old, {"hp.note": "again", "docker.shm_size": "1g"})
    request = runner.render(spec)
    assert spec.id != job_id and spec.train_url == old.train_url  # same train_url: it resumes from its checkpoints
    assert request.memory_bytes == 2 << 30 and request.shm_size is not None
    assert request.image == "img:1" and request.environment["API_TOKEN"] == SECRET
    assert spec.entry == "perf" and "entry/modelarts_entry_perf.py" in " ".join(request.command)
    assert spec.hyperparameters == {**old.hyperparameters, "note": "again"}
    assert spec.hyperparameters["steps"] == 4 and spec.recipe.resources.device == "cpu"


def test_restart_overrides_follow_the_same_flag_rules(recipe: Path) -> None:
    old = JobStore().get(_docker_job(recipe))
    spec, runner = _plan_restart(old, {"steps": "7", "docker.memory": "3g", "device": "cpu"})
    assert spec.hyperparameters["steps"] == 7 and runner.render(spec).memory_bytes == 3 << 30
    with pytest.raises(UserError, match="--local.device is a local option, but this job runs on the docker backend"):
        _plan_restart(old, {"local.device": "cpu"})
    with pytest.raises(UserError, match="steps: Input should be greater than 0"):
        _plan_restart(old, {"steps": "0"})


def test_status_json_shows_the_resolved_job(recipe: Path) -> None:
    spec, runner = _plan(str(recipe), {"local.grace_seconds": "5", "note": "1e3"})
    runner.create_record(spec, LocalHandle(job_dir=recipe.parent / "job", logs=[]))
    result = run_cli("status", spec.id, "--json")
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)["resolved"]
    assert resolved["backend"] == "local" and resolved["entry"] == "acc"
    assert resolved["backend_options"]["grace_seconds"] == 5.0 and resolved["backend_options"]["python"]
    assert resolved["hyperparameters"]["note"] == "1e3" and resolved["recipe"]["name"] == "toy-counter"


def test_shown_records_mask_secret_named_values(recipe: Path) -> None:
    record = JobStore().get(_docker_job(recipe))
    assert record.resolved["backend_options"]["env"] == {"API_TOKEN": SECRET}  # kept for the replay
    shown = public_record(record)
    assert shown["resolved"]["backend_options"]["env"] == {"API_TOKEN": "***"}
    assert SECRET not in json.dumps(shown)


def test_an_older_store_gains_the_column_and_its_jobs_restart_from_their_hyperparameters(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # the schema before resolved jobs were stored
        db.executescript(
            """CREATE TABLE jobs (id TEXT PRIMARY KEY, name TEXT NOT NULL, recipe TEXT NOT NULL, backend TEXT NOT NULL,
            state TEXT NOT NULL, exit_code INTEGER, reason TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL,
            started_at REAL, ended_at REAL, data_url TEXT NOT NULL DEFAULT '', train_url TEXT NOT NULL DEFAULT '',
            hyperparameters TEXT NOT NULL DEFAULT '{}', handle TEXT NOT NULL DEFAULT '{}',
            stop_requested INTEGER NOT NULL DEFAULT 0)"""
        )
        db.execute(
            "INSERT INTO jobs (id, name, recipe, backend, state, created_at, data_url, train_url, hyperparameters) "
            "VALUES ('old-1', 'toy-counter', ?, 'local', 'FAILED', 1.0, 'obs://b/d/', 'obs://b/j/old-1/', ?)",
            (str(FIXTURES / "toy_counter.yaml"), json.dumps({"steps": 5, "note": "kept"})),
        )
    store = JobStore(path)
    old = store.get("old-1")
    assert old.resolved == {} and old.hyperparameters["steps"] == 5
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    spec, _ = _plan_restart(old, {"step_seconds": "0.5"})
    assert spec.hyperparameters["note"] == "kept" and spec.hyperparameters["step_seconds"] == 0.5
    assert spec.train_url == "obs://b/j/old-1/"
