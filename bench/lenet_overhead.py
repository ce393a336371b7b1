"""What does the launcher's LeNet trainer cost over plain Keras? ms/step for the same model, data and batch size.

Contenders, all in this process on the shipped MNIST subset (except `--via cli`):
  launcher   recipes.lenet.train.train(hp, env), as the job's boot core calls it (resumable batch sampler,
             per-step timing, log lines, checkpoints excluded from its ms_per_step); or, with `--via cli`,
             `python -m launcher submit recipes/lenet.yaml` in a scratch LAUNCHER_HOME, read from metrics.json
  keras-tob  a plain loop: model.train_on_batch over a shuffled array, sliced per step
  keras-fit  model.fit over the same shuffled stream (Keras' own compiled loop and data adapter)
Each runs `--repeats` times, interleaved in rotating order so load on a shared machine hits all alike; the table
shows the median and the best (the best is the least disturbed by other load). ms/step excludes the first
WARMUP steps (tracing/compilation) everywhere.

    .venv/bin/python bench/lenet_overhead.py [--steps 500] [--repeats 3] [--via trainer|cli]
    KERAS_BACKEND=jax .venv/bin/python bench/lenet_overhead.py
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

import keras  # noqa: E402
import numpy as np  # noqa: E402

from entry.environment import JobEnvironment  # noqa: E402
from recipes.lenet.hparams import LeNetHyperparameters  # noqa: E402
from recipes.lenet.model import to_inputs  # noqa: E402
from recipes.lenet.train import compile_lenet, train  # noqa: E402
from recipes.mnist.idx import load_mnist  # noqa: E402

DATA = ROOT / "recipes" / "mnist" / "data"
WARMUP = 10  # the trainer's StepTimer skips the same number


def bench_hparams(steps: int) -> LeNetHyperparameters:
    # One checkpoint at the end, no export: the trainer's ms_per_step excludes both anyway.
    return LeNetHyperparameters(epochs=1, steps=steps, batch_size=64, checkpoint_every=steps, export=False)


def run_launcher_trainer(steps: int) -> float:
    with tempfile.TemporaryDirectory(prefix="lenet-bench-") as tmp:
        env = JobEnvironment(
            job_id="bench", work_dir=Path(tmp), data_dir=DATA, output_dir=Path(tmp) / "out", log_dir=Path(tmp) / "logs"
        )
        # The per-100-step log lines are part of the cost, not of this script's output.
        with contextlib.redirect_stdout(io.StringIO()):
            metrics = train(bench_hparams(steps), env)
    return metrics["ms_per_step"]


def run_launcher_cli(steps: int) -> float:
    with tempfile.TemporaryDirectory(prefix="lenet-bench-home-") as home:
        cmd = [sys.executable, "-m", "launcher", "submit", str(ROOT / "recipes" / "lenet.yaml"),
               "--epochs", "1", "--steps", str(steps), "--checkpoint_every", str(steps),
               "--export", "false"]  # fmt: skip
        env = {**os.environ, "LAUNCHER_HOME": home}
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        found = sorted(Path(home).rglob("metrics.json"))
        if not found:
            raise SystemExit(f"the CLI run left no metrics.json under {home}")
        return float(json.loads(found[0].read_text())["ms_per_step"])


def _shuffled_stream(x: np.ndarray, y: np.ndarray, steps: int, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """steps*batch examples: whole shuffled passes over the data, concatenated (what a plain user would do)."""
    rng = np.random.default_rng(seed)
    passes = -(-steps * batch // len(x))
    order = np.concatenate([rng.permutation(len(x)) for _ in range(passes)])[: steps * batch]
    return x[order], y[order]


def run_keras_train_on_batch(steps: int, x: np.ndarray, y: np.ndarray) -> float:
    hp = bench_hparams(steps)
    keras.utils.set_random_seed(hp.seed)
    model = compile_lenet(hp)
    xs, ys = _shuffled_stream(x, y, steps, hp.batch_size, hp.seed)
    b = hp.batch_size
    for i in range(WARMUP):
        model.train_on_batch(xs[i * b : (i + 1) * b], ys[i * b : (i + 1) * b])
    start = time.perf_counter()
    for i in range(WARMUP, steps):
        model.train_on_batch(xs[i * b : (i + 1) * b], ys[i * b : (i + 1) * b])
    return 1000.0 * (time.perf_counter() - start) / (steps - WARMUP)


class _BatchClock(keras.callbacks.Callback):
    """Wall time from the start of batch WARMUP to the end of the last batch."""

    def __init__(self) -> None:
        super().__init__()
        self.start = 0.0
        self.end = 0.0

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if batch == WARMUP:
            self.start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.end = time.perf_counter()


def run_keras_fit(steps: int, x: np.ndarray, y: np.ndarray) -> float:
    hp = bench_hparams(steps)
    keras.utils.set_random_seed(hp.seed)
    model = compile_lenet(hp)
    xs, ys = _shuffled_stream(x, y, steps, hp.batch_size, hp.seed)
    clock = _BatchClock()
    model.fit(xs, ys, batch_size=hp.batch_size, epochs=1, shuffle=False, verbose=0, callbacks=[clock])
    return 1000.0 * (clock.end - clock.start) / (steps - WARMUP)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="LeNet ms/step: launcher trainer vs plain Keras")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--via", choices=["trainer", "cli"], default="trainer")
    args = parser.parse_args(argv)
    if args.steps <= WARMUP + 10:
        parser.error(f"--steps must be more than {WARMUP + 10}")

    data = load_mnist(DATA)
    x, y = to_inputs(data.x_train), data.y_train.astype(np.int32)
    contenders: dict[str, Callable[[], float]] = {
        f"launcher ({args.via})": (lambda: run_launcher_cli(args.steps)) if args.via == "cli"
        else (lambda: run_launcher_trainer(args.steps)),
        "keras train_on_batch": lambda: run_keras_train_on_batch(args.steps, x, y),
        "keras fit": lambda: run_keras_fit(args.steps, x, y),
    }  # fmt: skip
    results: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for repeat in range(args.repeats):
        # Rotate the order so no contender always runs first (cold caches) or last (after the others' garbage).
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            results[name].append(contenders[name]())
            print(f"  repeat {repeat + 1}/{args.repeats}  {name:<24} {results[name][-1]:7.3f} ms/step", flush=True)

    launcher_name = names[0]
    median_base, best_base = statistics.median(results[launcher_name]), min(results[launcher_name])
    print(f"\nLeNet, batch 64, {args.steps} steps, backend {keras.backend.backend()}, "
          f"{os.cpu_count()} CPUs, {args.repeats} repeats")  # fmt: skip
    print(f"{'path':<26}{'median ms/step':>15}{'best ms/step':>14}{'launcher/this (median)':>24}{'(best)':>8}")
    for name, values in results.items():
        median, best = statistics.median(values), min(values)
        print(f"{name:<26}{median:15.3f}{best:14.3f}{median_base / median:24.3f}{best_base / best:8.3f}")
    plain = results["keras train_on_batch"]
    print(
        "\nlauncher overhead vs a plain train_on_batch loop: "
        f"{100 * (median_base / statistics.median(plain) - 1):+.1f}% "
        f"(median), {100 * (best_base / min(plain) - 1):+.1f}% (best); target < 5%"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
