"""LeNet for one epoch of 1,000 steps (seconds on a CPU) in a container, through the CLI, as a user would run it."""

from __future__ import annotations

import json
import re

import pytest

from launcher.jobs import JobState, JobStore
from launcher.paths import objects_root
from tests.docker.conftest import Daemon
from tests.docker.rootfs import RuntimeImage
from tests.launcher.helpers import REPO, run_cli


@pytest.mark.slow
def test_lenet_one_epoch_in_a_container_succeeds_with_outputs_in_the_store(
    dockerd: Daemon, runtime_image: RuntimeImage
) -> None:
    result = run_cli(
        "submit", str(REPO / "recipes" / "lenet.yaml"),
        "--backend", "docker", "--image", runtime_image.tag, "--docker_host", dockerd.url,
        "--python", runtime_image.python, "--volumes", ",".join(runtime_image.mounts), "--network", "none",
        "--memory", "3g", "--epochs", "1", "--steps", "1000", "--log_every", "250", "--export", "False",
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    job_id = re.search(r"^submitted (\S+) \(docker\)$", result.stdout, re.MULTILINE).group(1)  # type: ignore[union-attr]
    assert re.search(r"epoch : 1----step : 1000----loss : [0-9.]+", result.stdout)  # the log was followed live
    assert f"job {job_id} SUCCEEDED (exit 0)" in result.stdout
    record = JobStore().get(job_id)
    assert record.state is JobState.SUCCEEDED and record.backend == "docker"
    out = objects_root() / record.train_url.removeprefix("obs://")
    metrics = json.loads((out / "metrics.json").read_text())
    # The recipe's own bar (RECIPES.md): >= 0.90 on the held-out digits after 1,000 steps; the container changes nothing.
    assert metrics["steps"] == 1000 and metrics["full_test_accuracy"] >= 0.90
    checkpoints = sorted((out / "checkpoints").iterdir())
    assert checkpoints and (checkpoints[-1] / "MANIFEST.json").is_file()
    assert (out / "logs" / f"{job_id}-proc-rank-0-device-0.txt").is_file()
