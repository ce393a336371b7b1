"""The boot core on real processes: bad input, crash, SIGKILL, stop + resume, two ranks, fail fast, perf, legacy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from launcher.backends import get_backend
from launcher.jobs import JobStore
from launcher.jobspec import plan_job
from launcher.paths import objects_root
from tests.launcher.helpers import FIXTURES, REPO, run_cli, wait_for

ENTRY = REPO / "entry" / "modelarts_entry_acc.py"


def stored(url: str) -> Path:
    return objects_root() / url.removeprefix("obs://")


def run_entry(tmp_path: Path, *args: str, cwd: Path = FIXTURES, job_id: str = "job-1", script: Path = ENTRY):  # noqa: ANN201
    env = {
        **os.environ,
        "LAUNCHER_JOB_ID": job_id,
        "LAUNCHER_WORK_DIR": str(tmp_path / "work"),
        "PYTHONPATH": os.pathsep.join([str(FIXTURES), str(REPO)]),
    }
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def seed_data(url: str = "obs://toy-bucket/data/") -> str:
    target = stored(url)
    (target / "sub").mkdir(parents=True)
    (target / "a.txt").write_text("hello\n")
    (target / "sub" / "b.txt").write_text("deep\n")
    return url


def test_bad_hyperparameters_exit_2_naming_every_field_and_nothing_moves(tmp_path: Path) -> None:
    data = seed_data()
    result = run_entry(
        tmp_path, f"--data_url={data}", "--train_url=obs://toy-bucket/out/", "--recipe=toy_counter.yaml",
        '--hyperparameters={"steps": "two", "step_seconds": -1, "flagg": true}',
    )
    assert result.returncode == 2, result.stderr
    for field in ("steps: Input should be a valid integer", "step_seconds: Input should be greater than or equal to 0", "flagg: unknown key"):
        assert field in result.stderr
    assert not (tmp_path / "work" / "data").exists() or not any((tmp_path / "work" / "data").iterdir())
    assert not stored("obs://toy-bucket/out/").exists()


def test_trainer_exception_leaves_failure_json_in_the_store(tmp_path: Path) -> None:
    result = run_entry(tmp_path, f"--data_url={seed_data()}", "--train_url=obs://toy-bucket/out/", "--recipe=toy_crasher.yaml")
    assert result.returncode == 1
    failure = json.loads((stored("obs://toy-bucket/out/") / "logs" / "failure.json").read_text())
    assert failure["reason"] == "RuntimeError: toy trainer exploded at step 2"
    assert failure["exit_code"] == 1 and failure["signal"] is None
    assert any("Traceback" in line for line in failure["last_log_lines"])


def test_sigkilled_trainer_is_reported_as_killed(tmp_path: Path) -> None:
    result = run_entry(tmp_path, f"--data_url={seed_data()}", "--train_url=obs://toy-bucket/out/", "--recipe=toy_killed.yaml")
    assert result.returncode == 137, result.stderr
    out = stored("obs://toy-bucket/out/")
    failure = json.loads((out / "logs" / "failure.json").read_text())
    assert failure["signal"] == "SIGKILL" and failure["exit_code"] == 137
    assert failure["reason"].startswith(("killed by SIGKILL (137)", "killed: out of memory (137)"))
    assert (out / "checkpoints" / "step-000000001" / "MANIFEST.json").is_file()  # what it saved before dying is kept
    assert "toy: about to be killed" in (out / "logs" / "job-1-proc-rank-0-device-0.txt").read_text()


def test_stopped_job_keeps_checkpoint_and_log_and_restart_resumes() -> None:
    first = run_cli("submit", str(FIXTURES / "toy_counter.yaml"), "--steps", "400", "--step_seconds", "0.05", "--detach")
    job_id = first.stdout.split()[1]
    store = JobStore()
    backend = get_backend("local", store)
    wait_for(lambda: "toy: step 5\n" in "".join(backend.logs(job_id)), timeout=60)
    stopped = run_cli("stop", job_id)
    assert f"job {job_id} STOPPED (exit 143)" in stopped.stdout
    out = stored(store.get(job_id).train_url)
    saved = sorted(p.name for p in (out / "checkpoints").iterdir())
    last_step = int(saved[-1].removeprefix("step-"))
    assert last_step >= 5 and (out / "checkpoints" / saved[-1] / "MANIFEST.json").is_file()
    log = (out / "logs" / f"{job_id}-proc-rank-0-device-0.txt").read_text()
    assert f"toy: step {last_step}\n" in log and "stopped by SIGTERM: pushing outputs" in log

    second = run_cli("restart", job_id, "--steps", f"{last_step + 3}")
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"toy: resumed from step {last_step}" in second.stdout
    assert f"toy: step {last_step + 1}\n" in second.stdout and "toy: step 1\n" not in second.stdout
    seen = json.loads((out / "seen-rank-0.json").read_text())
    assert seen["first_step"] == last_step + 1  # the step count continued
    assert (out / "checkpoints" / f"step-{last_step + 3:09d}" / "MANIFEST.json").is_file()


# A recipe outside the fixtures folder finds the toy trainers through PYTHONPATH, as a user's would.
FIXTURES_ON_PATH = {"PYTHONPATH": str(FIXTURES)}


def _two_rank_recipe(tmp_path: Path, name: str, device: str = "cpu") -> Path:
    text = (FIXTURES / name).read_text().replace("device: cpu", f"device: {device}\n  count: 2")
    text = text.replace("demo_data: toydata", f"demo_data: {FIXTURES / 'toydata'}")
    path = tmp_path / name
    path.write_text(text)
    return path


def test_two_ranks_write_two_logs_and_see_their_own_env(tmp_path: Path) -> None:
    recipe = _two_rank_recipe(tmp_path, "toy_counter.yaml")
    result = run_cli("submit", str(recipe), "--steps", "2", "--perf", env=FIXTURES_ON_PATH)
    assert result.returncode == 0, result.stdout + result.stderr
    job_id = next(line.split()[1] for line in result.stdout.splitlines() if line.startswith("job "))
    out = stored(JobStore().get(job_id).train_url)
    logs = sorted(p.name for p in (out / "logs").glob("*.txt"))
    assert logs == [f"{job_id}-proc-rank-0-device-0.txt", f"{job_id}-proc-rank-1-device-1.txt"]
    ports = set()
    for rank in (0, 1):
        seen = json.loads((out / f"seen-rank-{rank}.json").read_text())
        assert (seen["rank"], seen["world_size"], seen["device_id"]) == (rank, 2, rank)
        assert seen["env"]["RANK_ID"] == str(rank) and seen["env"]["JAX_PROCESS_ID"] == str(rank)
        tf_config = json.loads(seen["env"]["TF_CONFIG"])
        assert tf_config["task"] == {"type": "worker", "index": rank} and len(tf_config["cluster"]["worker"]) == 2
        ports.add(tuple(tf_config["cluster"]["worker"]))
        assert seen["data_files"] == ["a.txt", "sub/b.txt"]  # one sync, both ranks see the cache
    assert len(ports) == 1  # both ranks got the same cluster
    perf = json.loads((out / "perf.json").read_text())
    assert perf["ranks_reported"] == 2 and perf["total_samples_per_sec"] == 20.0
    assert [c["rank"] for c in perf["cards"]] == [0, 1]
    assert "Final Performance ms/step" in result.stdout


def test_ascend_ranks_get_a_valid_rank_table(tmp_path: Path) -> None:
    recipe = _two_rank_recipe(tmp_path, "toy_counter.yaml", device="ascend:4,5")
    result = run_cli("submit", str(recipe), "--steps", "1", env=FIXTURES_ON_PATH)
    assert result.returncode == 0, result.stdout + result.stderr
    job_id = next(line.split()[1] for line in result.stdout.splitlines() if line.startswith("job "))
    out = stored(JobStore().get(job_id).train_url)
    seen = [json.loads((out / f"seen-rank-{r}.json").read_text()) for r in (0, 1)]
    assert [s["device_id"] for s in seen] == [4, 5]
    table = json.loads(Path(seen[0]["env"]["RANK_TABLE_FILE"]).read_text())
    assert [(d["device_id"], d["rank_id"]) for d in table["server_list"][0]["device"]] == [("4", "0"), ("5", "1")]


def test_a_dying_rank_fails_the_job_fast(tmp_path: Path) -> None:
    recipe = _two_rank_recipe(tmp_path, "toy_rank_one_crashes.yaml")
    started = time.monotonic()
    result = run_cli("submit", str(recipe), env=FIXTURES_ON_PATH)
    assert time.monotonic() - started < 120  # rank 0 alone would run for 5 minutes
    assert result.returncode == 1
    assert "FAILED (exit 1)" in result.stdout and "rank 1: RuntimeError: rank 1 lost its device" in result.stdout


LEGACY_SCRIPT = """#!/bin/bash
# ModelZoo style: parse --data_path/--output_path, train, write results\r
for arg in "$@"; do\r
  case $arg in\r
    --data_path=*) data_path="${arg#*=}" ;;\r
    --output_path=*) output_path="${arg#*=}" ;;\r
    --epochs=*) epochs="${arg#*=}" ;;\r
  esac\r
done\r
mkdir -p "$output_path/ckpt_npu"\r
ls "$data_path" > "$output_path/data_listing.txt"\r
echo "epochs=${epochs:-5}" > "$output_path/ckpt_npu/model.ckpt"\r
echo "Final Train Accuracy : 0.98"\r
"""


def _modelzoo_dir(tmp_path: Path) -> Path:
    code = tmp_path / "LeNet_ID0127_for_TensorFlow"
    (code / "test").mkdir(parents=True)
    (code / "test" / "train_full_1p.sh").write_bytes(LEGACY_SCRIPT.encode())
    return code


def test_modelzoo_code_dir_runs_unchanged_under_the_entry(tmp_path: Path) -> None:
    code = _modelzoo_dir(tmp_path)
    result = run_entry(tmp_path, f"--data_url={seed_data()}", "--train_url=obs://toy-bucket/zoo/", "--epochs=2", cwd=code)
    assert result.returncode == 0, result.stderr
    out = stored("obs://toy-bucket/zoo/")
    assert (out / "data_listing.txt").read_text().split() == ["a.txt", "sub"]
    assert (out / "ckpt_npu" / "model.ckpt").read_text() == "epochs=2\n"
    assert "Final Train Accuracy : 0.98" in (out / "logs" / "job-1-proc-rank-0-device-0.txt").read_text()


def test_legacy_recipe_through_the_launcher(tmp_path: Path) -> None:
    code = _modelzoo_dir(tmp_path)
    seed_data("obs://toy-bucket/zoo-data/")
    (code / "modelzoo.yaml").write_text(
        "name: lenet-modelzoo\nlegacy: {}\nhyperparameters: {epochs: 3}\n"
        "data_url: obs://toy-bucket/zoo-data/\noutput_url: obs://toy-bucket/zoo/{job_id}/\n"
    )
    result = run_cli("submit", str(code / "modelzoo.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    job_id = next(line.split()[1] for line in result.stdout.splitlines() if line.startswith("job "))
    assert (stored(f"obs://toy-bucket/zoo/{job_id}/") / "ckpt_npu" / "model.ckpt").read_text() == "epochs=3\n"


def test_missing_legacy_script_is_bad_input(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_entry(tmp_path, "--data_url=obs://toy-bucket/none/", "--train_url=obs://toy-bucket/x/", cwd=empty)
    assert result.returncode == 2 and "legacy script test/train_full_1p.sh not found" in result.stderr


@pytest.mark.parametrize("recipe", ["toy_counter.yaml"])
def test_render_of_two_ranks_shows_each_process(tmp_path: Path, recipe: str) -> None:
    plan_job(FIXTURES / recipe)  # puts the toy trainers on sys.path
    spec = plan_job(_two_rank_recipe(tmp_path, recipe))
    request = get_backend("local").render(spec)
    assert [r.env["RANK_ID"] for r in request.ranks] == ["0", "1"]
    assert request.command_line().count("modelarts_entry_acc.py") == 2
    assert [Path(r.log_path).name for r in request.ranks] == ["job.log", "job-rank-1.log"]
