"""The Docker backend on a real private dockerd: success, ownership, stop, OOM, devices, ranks, lost containers.

Jobs run the offline test image (system libraries only) with this machine's interpreter and venv mounted
read-only, so every container runs the same entry boot core and trainers as the local backend.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from launcher.backends import get_backend
from launcher.backends.docker.backend import DockerBackend
from launcher.cli import seed_demo_data
from launcher.errors import UserError
from launcher.jobs import JobRecord, JobState, JobStore
from launcher.jobspec import JobSpec, plan_job
from launcher.paths import jobs_root, launcher_home, objects_root
from tests.docker.conftest import Daemon
from tests.docker.rootfs import RuntimeImage
from tests.launcher.helpers import FIXTURES, REPO, wait_for, wait_terminal

DOCKER_FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROBE = DOCKER_FIXTURES / "probe.yaml"
CALLER = (4321, 4321)  # a made-up caller: files must come out as theirs, never root's


def submit(
    recipe: Path, options: dict[str, Any], image: str, overrides: dict[str, Any] | None = None, **resources: Any
) -> tuple[JobStore, DockerBackend, JobSpec, JobRecord]:
    store = JobStore()
    backend = get_backend("docker", store, options)
    assert isinstance(backend, DockerBackend)
    spec = plan_job(recipe, overrides or {}, resources={"backend": "docker", "image": image, **resources})
    seed_demo_data(spec)
    return store, backend, spec, backend.submit(spec)


def stored(url: str) -> Path:
    return objects_root() / url.removeprefix("obs://")


def containers_of(dockerd: Daemon, job_id: str) -> list[Any]:
    return dockerd.client.containers.list(all=True, filters={"label": f"launcher.job={job_id}"})


def test_job_succeeds_and_every_file_it_makes_is_the_callers(
    dockerd: Daemon, runtime_image: RuntimeImage, docker_options: dict[str, Any]
) -> None:
    seed_demo_data(plan_job(PROBE, {}))
    for path in [launcher_home(), *launcher_home().rglob("*")]:  # the caller's own LAUNCHER_HOME
        os.chown(path, *CALLER)
    options = {**docker_options, "user": f"{CALLER[0]}:{CALLER[1]}"}
    store, backend, spec, record = submit(
        PROBE, options, runtime_image.tag, {"paths": ["/code/probe.yaml", "/launcher/objects"]}
    )
    final = wait_terminal(store, record.id, backend)
    log = "".join(backend.logs(record.id))
    assert final.state is JobState.SUCCEEDED and final.exit_code == 0, log
    assert final.started_at is not None and final.ended_at is not None and final.ended_at > final.started_at
    out = stored(spec.train_url)
    probe = json.loads((out / "nested" / "probe-rank-0.json").read_text())
    assert (probe["uid"], probe["gid"], probe["cwd"]) == (*CALLER, "/code")
    assert probe["paths"] == {"/code/probe.yaml": True, "/launcher/objects": True}
    assert json.loads((out / "metrics.json").read_text()) == {"accuracy": 1.0}
    assert (out / "logs" / f"{record.id}-proc-rank-0-device-0.txt").is_file()
    made_in_job = [p for p in (out, *out.rglob("*"), *(jobs_root() / record.id / "work").rglob("*"))]
    assert len(made_in_job) > 8
    assert {(p.lstat().st_uid, p.lstat().st_gid) for p in made_in_job} == {CALLER}  # work/data: a link to the cache
    assert "probe: " in log and containers_of(dockerd, record.id) == []  # its end recorded, the container removed


def test_stop_mid_run_is_stopped_after_the_final_push(
    dockerd: Daemon, runtime_image: RuntimeImage, docker_options: dict[str, Any]
) -> None:
    _store, backend, spec, record = submit(
        FIXTURES / "toy_spawner.yaml", docker_options, runtime_image.tag, {"steps": 300, "step_seconds": 0.2}
    )
    wait_for(lambda: "toy: step 3\n" in "".join(backend.logs(record.id)), timeout=90)
    started = time.monotonic()
    assert not backend.cancel(record.id).state.terminal  # cancel asks and returns at once
    final = backend.wait(record.id, timeout=backend.stop_timeout(record.id))
    assert final.state is JobState.STOPPED and final.exit_code == 143 and final.reason == "stopped"
    assert time.monotonic() - started < 10  # the entry exits on SIGTERM; the grace period is the upper bound
    out = stored(spec.train_url)
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert checkpoints and all((out / "checkpoints" / c / "MANIFEST.json").is_file() for c in checkpoints)
    stored_log = (out / "logs" / f"{record.id}-proc-rank-0-device-0.txt").read_text()
    assert "stopped by SIGTERM: pushing outputs" in stored_log
    assert "stopped by SIGTERM: pushing outputs" in "".join(backend.logs(record.id))  # saved from the container
    assert containers_of(dockerd, record.id) == [] and backend.cancel(record.id) == final


def test_out_of_memory_is_reported_with_the_limit(
    dockerd: Daemon, runtime_image: RuntimeImage, docker_options: dict[str, Any]
) -> None:
    options = {**docker_options, "memory": "300m"}
    store, backend, spec, record = submit(DOCKER_FIXTURES / "hog.yaml", options, runtime_image.tag)
    final = wait_terminal(store, record.id, backend)
    assert final.state is JobState.FAILED and final.exit_code == 137, "".join(backend.logs(record.id))
    assert final.reason == "killed: out of memory (137), over the container's memory limit of 300 MiB (--memory)"
    assert "hog: 16 MiB" in "".join(backend.logs(record.id))
    out = stored(spec.train_url)
    assert not (out / "hog-survived.txt").exists()
    # The entry outlived its trainer, so the failure and the log still reached the store.
    assert json.loads((out / "logs" / "failure.json").read_text())["exit_code"] == 137


def _fake_ascend_host(root: Path) -> None:
    """Stand-in device nodes (links to /dev/null: the daemon resolves links) and driver folders."""
    (root / "dev").mkdir(parents=True)
    for node in ("davinci0", "davinci_manager", "devmm_svm", "hisi_hdc"):
        (root / "dev" / node).symlink_to("/dev/null")
    for folder in ("usr/local/Ascend/driver/lib64", "usr/local/dcmi", "usr/local/bin"):
        (root / folder).mkdir(parents=True)
    (root / "usr/local/bin/npu-smi").write_text("#!/bin/sh\n")
    (root / "etc").mkdir()
    (root / "etc/ascend_install.info").write_text("Driver_Install_Path_Param=/usr/local/Ascend\n")


def test_ascend_card_runs_with_stand_in_device_nodes_and_driver_mounts(
    tmp_path: Path, dockerd: Daemon, runtime_image: RuntimeImage, docker_options: dict[str, Any]
) -> None:
    host = tmp_path / "host"
    _fake_ascend_host(host)
    paths = ["/dev/davinci0", "/dev/davinci_manager", "/dev/devmm_svm", "/dev/hisi_hdc", "/dev/davinci1",
             "/usr/local/Ascend/driver/lib64", "/usr/local/dcmi", "/usr/local/bin/npu-smi", "/etc/ascend_install.info"]  # fmt: skip
    options = {**docker_options, "host_root": str(host)}
    store, backend, spec, record = submit(PROBE, options, runtime_image.tag, {"paths": paths}, device="ascend:0")
    final = wait_terminal(store, record.id, backend)
    assert final.state is JobState.SUCCEEDED, "".join(backend.logs(record.id))
    probe = json.loads((stored(spec.train_url) / "nested" / "probe-rank-0.json").read_text())
    assert probe["paths"] == {p: p != "/dev/davinci1" for p in paths}  # its card, not the others
    assert probe["env"] == {
        "DEVICE_ID": "0",
        "ASCEND_DEVICE_ID": "0",
        "ASCEND_VISIBLE_DEVICES": "0",
        "RANK_TABLE_FILE": None,
    }
    # A card the host lacks is refused before any container exists.
    with pytest.raises(UserError, match=r"missing on this host .*/dev/davinci1;"):
        submit(PROBE, options, runtime_image.tag, device="ascend:1")
    assert len(store.list()) == 1


def test_two_ranks_share_one_container_and_fail_fast(
    dockerd: Daemon, runtime_image: RuntimeImage, docker_options: dict[str, Any]
) -> None:
    store, backend, spec, record = submit(PROBE, docker_options, runtime_image.tag, count=2)
    final = wait_terminal(store, record.id, backend)
    assert final.state is JobState.SUCCEEDED, "".join(backend.logs(record.id))
    # Read from the job's output dir (mounted): only the chief pushes the whole folder, so rank 1's file reaches
    # the store only when it was written before rank 0's final push (an entry-side race, not the container's).
    out = jobs_root() / record.id / "work" / "output" / "nested"
    ranks = [json.loads((out / f"probe-rank-{r}.json").read_text()) for r in (0, 1)]
    assert (stored(spec.train_url) / "nested" / "probe-rank-0.json").is_file()
    assert [(p["rank"], p["world_size"], p["env"]["DEVICE_ID"]) for p in ranks] == [(0, 2, "0"), (1, 2, "1")]
    assert '"rank": 1' in "".join(backend.logs(record.id, rank=1))
    # Rank 1 fails at once while rank 0 would count for minutes: the job ends now, naming the rank.
    started = time.monotonic()
    store, backend, _spec, record = submit(
        FIXTURES / "toy_rank_one_crashes.yaml", docker_options, runtime_image.tag, count=2
    )
    final = wait_terminal(store, record.id, backend, timeout=60)
    assert final.state is JobState.FAILED and final.exit_code == 1
    assert final.reason == "rank 1: RuntimeError: rank 1 lost its device"
    assert time.monotonic() - started < 45


def test_crash_reason_comes_from_the_entrys_failure_json(
    dockerd: Daemon, runtime_image: RuntimeImage, docker_options: dict[str, Any]
) -> None:
    store, backend, spec, record = submit(FIXTURES / "toy_crasher.yaml", docker_options, runtime_image.tag)
    final = wait_terminal(store, record.id, backend)
    assert (final.state, final.exit_code, final.reason) == (
        JobState.FAILED,
        1,
        "RuntimeError: toy trainer exploded at step 2",
    )
    assert "toy: about to fail" in "".join(backend.logs(record.id, follow=True))
    failure = json.loads((stored(spec.train_url) / "logs" / "failure.json").read_text())
    assert failure["exit_code"] == 1 and any("about to fail" in line for line in failure["last_log_lines"])


def test_container_removed_behind_the_launchers_back_is_reported_lost(
    dockerd: Daemon, runtime_image: RuntimeImage, docker_options: dict[str, Any]
) -> None:
    _store, backend, _spec, record = submit(
        FIXTURES / "toy_counter.yaml", docker_options, runtime_image.tag, {"steps": 300, "step_seconds": 0.2}
    )
    dockerd.client.containers.get(record.handle["container"]).remove(force=True)
    final = backend.status(record.id)
    assert final.state is JobState.FAILED and final.reason.startswith("lost: container launcher-")


def test_image_that_cannot_be_had_is_a_clear_error_and_starts_nothing(
    dockerd: Daemon, docker_options: dict[str, Any]
) -> None:
    store = JobStore()
    backend = get_backend("docker", store, docker_options)
    offline = plan_job(PROBE, {}, resources={"backend": "docker", "image": "registry.invalid/team/trainer:1"})
    with pytest.raises(
        UserError,
        match=r"image registry.invalid/team/trainer:1 is not on this Docker host and cannot be pulled: .*launcher build",
    ):
        backend.submit(offline)
    never = get_backend("docker", store, {**docker_options, "pull": "never"})
    with pytest.raises(UserError, match="is not on this Docker host and pull is 'never'"):
        never.submit(offline)
    unbuilt = plan_job(PROBE, {}, resources={"backend": "docker"})  # the default tag, never built here
    with pytest.raises(
        UserError,
        match=r"image launcher-cpu:[0-9a-f]{16} is not on this Docker host: build it with `launcher build RECIPE`",
    ):
        backend.submit(unbuilt)
    assert store.list() == [] and dockerd.client.containers.list(all=True, filters={"label": "launcher.job"}) == []


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "launcher", *args]


def test_state_is_right_after_the_submitting_cli_is_killed(
    dockerd: Daemon, runtime_image: RuntimeImage, docker_options: dict[str, Any]
) -> None:
    flags = [
        "--backend", "docker", "--image", runtime_image.tag, "--docker_host", dockerd.url, "--python", runtime_image.python,
        "--volumes", ",".join(runtime_image.mounts), "--network", "none", "--steps", "15", "--step_seconds", "0.2",
    ]  # fmt: skip
    cli = subprocess.Popen(
        _cli("submit", str(FIXTURES / "toy_counter.yaml"), *flags), cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert cli.stdout is not None
    job_id = None
    for line in cli.stdout:  # following the log: kill it mid-job, like a closed terminal
        if line.startswith("submitted "):
            job_id = line.split()[1]
        if "toy: step 2" in line:
            break
    cli.send_signal(signal.SIGKILL)
    cli.wait()
    assert job_id is not None
    status = wait_for(
        lambda: (
            "SUCCEEDED"
            in (
                out := subprocess.run(
                    _cli("status", job_id), cwd=REPO, capture_output=True, text=True, check=False
                ).stdout
            )
            and out
        ),
        timeout=60,
        interval=1.0,
    )
    assert f"job {job_id} SUCCEEDED (exit 0)" in status and "accuracy 0.5" in status
    listing = subprocess.run(_cli("list"), cwd=REPO, capture_output=True, text=True, check=False).stdout
    assert any(line.startswith(job_id) and "docker" in line and "SUCCEEDED" in line for line in listing.splitlines())
    assert (
        "toy: step 15"
        in subprocess.run(_cli("logs", job_id), cwd=REPO, capture_output=True, text=True, check=False).stdout
    )
