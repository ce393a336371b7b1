"""The README's demo path on the real LeNet recipe: submit -> SUCCEEDED, outputs in the embedded store."""

from __future__ import annotations

import json

import pytest

from launcher.paths import objects_root
from tests.launcher.helpers import run_cli


@pytest.mark.slow
def test_lenet_one_epoch_end_to_end() -> None:
    result = run_cli("submit", "recipes/lenet.yaml", "--epochs", "1", timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = next(line for line in result.stdout.splitlines() if line.startswith("job lenet-"))
    job_id = summary.split()[1]
    assert "SUCCEEDED (exit 0)" in summary
    assert "accuracy" in result.stdout
    out = objects_root() / "launcher-demo" / "jobs" / job_id
    metrics = json.loads((out / "metrics.json").read_text())
    # RECIPES.md's LeNet bar is >= 0.90 after 1,000 steps (the demo's seed: 0.91-0.93 on every test image); a
    # sigmoid LeNet that has not left its plateau sits near 0.1-0.6.
    assert metrics["steps"] == 1000 and metrics["full_test_accuracy"] >= 0.88, metrics
    assert metrics["accuracy"] >= 0.85 and metrics["loss"] < 0.5, metrics
    assert any((p / "MANIFEST.json").is_file() for p in (out / "checkpoints").iterdir())
    assert (out / "logs" / f"{job_id}-proc-rank-0-device-0.txt").stat().st_size > 0
    assert (objects_root() / "launcher-demo" / "mnist" / "train-images-idx3-ubyte.gz").is_file()  # seeded offline
    listing = run_cli("list")
    assert any(job_id in line and "SUCCEEDED" in line for line in listing.stdout.splitlines())
