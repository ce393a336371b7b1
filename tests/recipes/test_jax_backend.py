"""The GPU machine runs Keras on JAX: every recipe trains a few steps under KERAS_BACKEND=jax here too, in a fresh
interpreter (the backend is fixed at the first `import keras`), with the project's own jax[cpu] (test extra), and
TensorFlow is never imported on that path. GENet's data parallelism runs over two XLA host devices.

Each run's figures are listed at the end of the pytest output ("JAX backend runs"), so CI logs show them.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

# Runs one recipe's trainer as the boot core would (recipe YAML < overrides), then reports what it imported.
RUNNER = """
import json, sys, time
from pathlib import Path
recipe_file, data, out, overrides = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), json.loads(sys.argv[4])
from entry.environment import JobEnvironment
from launcher.recipe import import_ref, load_recipe, resolve_hyperparameters
recipe = load_recipe(recipe_file)
hp = resolve_hyperparameters(recipe, overrides)
env = JobEnvironment(job_id="jax", work_dir=out, data_dir=data, output_dir=out / "output", log_dir=out / "logs")
started = time.perf_counter()
metrics = import_ref(recipe.trainer)(hp, env)
import keras, jax
loaded = sorted({m.split(".")[0] for m, v in sys.modules.items() if v is not None} & {"tensorflow", "jax", "keras"})
print("JAXRUN " + json.dumps({"metrics": metrics, "modules": loaded, "backend": keras.backend.backend(),
                              "devices": len(jax.devices()), "seconds": time.perf_counter() - started}))
"""

# recipe YAML, its data (the shipped demo sets), overrides that keep the steps to seconds on 2 cores
CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "lenet": ("lenet.yaml", "mnist/data", {"epochs": 1, "steps": 30, "log_every": 10, "export": False}),
    "gitloss": (
        "gitloss.yaml", "mnist/data",
        {"steps": 10, "batch_size": 32, "update_centers": 10, "log_every": 5, "validation_size": 1000},
    ),
    "cosine_metric_learning": (
        "cosine_metric_learning.yaml", "cosine_metric_learning/demo/market1501",
        {"steps": 4, "eval_every": 4, "checkpoint_every": 4, "log_every": 2},
    ),
    "sesemi": (
        "sesemi.yaml", "sesemi/demo",
        {"steps": 4, "width": 0.05, "network": "nin", "eval_every": 4, "checkpoint_every": 4, "log_every": 2},
    ),
    "genet_res50": (
        "genet_res50.yaml", "genet_res50/demo",
        {"steps": 2, "image_size": 32, "batch_size": 8, "eval_batch_size": 40, "log_every": 1, "workers": 2},
    ),
}  # fmt: skip

RUNS: list[tuple[str, dict[str, Any]]] = []  # (name, report) for the terminal summary (tests/recipes/conftest.py)


def run_on_jax(
    tmp_path: Path, recipe: str, data: Path, overrides: dict[str, Any], extra_env: dict[str, str] | None = None
) -> dict[str, Any]:
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        **(extra_env or {}),
    }
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, str(REPO / "recipes" / recipe), str(data), str(tmp_path), json.dumps(overrides)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    report = json.loads(result.stdout.split("JAXRUN ", 1)[1])
    report["stdout"] = result.stdout
    return report


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_recipe_trains_on_jax_without_tensorflow(name: str, tmp_path: Path) -> None:
    recipe, data, overrides = CASES[name]
    report = run_on_jax(tmp_path, recipe, REPO / "recipes" / data, overrides)
    metrics = report["metrics"]
    RUNS.append((name, report))
    assert report["backend"] == "jax" and report["modules"] == ["jax", "keras"], report["modules"]
    want_steps = overrides["steps"] * overrides.get("epochs", 1)
    assert metrics["steps"] == want_steps and math.isfinite(metrics["loss"]), metrics
    assert (tmp_path / "output" / "checkpoints" / f"step-{want_steps:09d}" / "MANIFEST.json").is_file()
    assert any((tmp_path / "output" / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_genet_data_parallel_over_two_devices(tmp_path: Path) -> None:
    """Two XLA host devices: DataParallel splits the global batch (2 x 4) and the training steps run."""
    overrides = {"steps": 2, "image_size": 32, "batch_size": 4, "eval_batch_size": 40, "log_every": 1,
                 "workers": 2, "extra": False, "mlp": False}  # fmt: skip
    report = run_on_jax(
        tmp_path, "genet_res50.yaml", REPO / "recipes" / "genet_res50" / "demo", overrides,
        {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
    )  # fmt: skip
    RUNS.append(("genet_res50 DataParallel x2", report))
    metrics = report["metrics"]
    assert report["devices"] == 2 and report["modules"] == ["jax", "keras"]
    assert metrics["devices"] == 2 and metrics["steps"] == 2 and math.isfinite(metrics["loss"])
    assert "on 2 device(s), global batch 8" in report["stdout"]
    assert metrics["samples_per_sec"] == pytest.approx(8 * 1000 / metrics["ms_per_step"])
