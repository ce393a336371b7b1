"""ms/step of the recipes' own training steps at the seeds' batch sizes, on whatever device Keras' backend sees.

    KERAS_BACKEND=jax python bench/recipes_gpu.py                      # GPU machine (JAX + CUDA), defaults
    KERAS_BACKEND=jax python bench/recipes_gpu.py --steps 20 --warmup 3  # a quick CPU check
    python bench/recipes_gpu.py --recipes lenet,gitloss --precision mixed_bfloat16

Each case builds the model exactly as its trainer does (recipes.*.train.build / compile functions, the seed's
network at full width) and times `train_on_batch` on random inputs of the real shapes, after `--warmup` steps
(compilation). Data preparation is not timed: the trainers prepare batches on the host the same way for every
backend. The table shows median and best ms/step over `--repeats` timed windows, samples/s, and the seed's
figure where it gave one.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

import keras
import numpy as np


class Case(NamedTuple):
    model: keras.Model
    inputs: Any
    targets: Any
    samples: int  # images per step
    seed_ms: str  # the seed's figure, as it states it


def lenet(precision: str) -> Case:
    from recipes.lenet.hparams import LeNetHyperparameters
    from recipes.lenet.train import compile_lenet

    hp = LeNetHyperparameters(precision=precision)
    rng = np.random.default_rng(0)
    x = rng.random((hp.batch_size, 784), dtype=np.float32)
    return Case(compile_lenet(hp), x, rng.integers(0, 10, hp.batch_size), hp.batch_size, "not given")


def gitloss(precision: str) -> Case:
    from recipes.gitloss.hparams import GitLossHyperparameters
    from recipes.gitloss.train import build

    hp = GitLossHyperparameters()  # float32 only: the recipe has no precision option
    rng = np.random.default_rng(0)
    x = rng.normal(size=(hp.batch_size, 28, 28, 1)).astype(np.float32)
    return Case(build(hp), x, rng.integers(0, 10, hp.batch_size), hp.batch_size, "10 (V100) / 25.5 (Ascend)")


def cosine(precision: str) -> Case:
    from recipes.cosine_metric_learning.hparams import CosineMetricHyperparameters
    from recipes.cosine_metric_learning.market1501 import MAX_LABEL
    from recipes.cosine_metric_learning.train import build

    hp = CosineMetricHyperparameters(precision=precision)
    rng = np.random.default_rng(0)
    x = rng.random((hp.batch_size, hp.image_height, hp.image_width, 3), dtype=np.float32)
    y = np.repeat(rng.choice(MAX_LABEL, hp.ids_per_batch, replace=False), hp.images_per_id)
    return Case(build(hp, MAX_LABEL + 1), x, y, hp.batch_size, "42.5 (GPU) / 182.4 (Ascend), unit 'sec/step'")


def sesemi(precision: str) -> Case:
    from recipes.sesemi.augment import NUM_TRANSFORMS
    from recipes.sesemi.hparams import SesemiHyperparameters
    from recipes.sesemi.train import build

    hp = SesemiHyperparameters(precision=precision)
    rng = np.random.default_rng(0)
    n = hp.batch_size * NUM_TRANSFORMS
    x = [rng.normal(size=(n, 32, 32, 3)).astype(np.float32) for _ in range(2)]
    y = [rng.integers(0, 10, n), np.tile(np.arange(NUM_TRANSFORMS), hp.batch_size)]
    return Case(build(hp, total_steps=10_000), x, y, 2 * n, "75 (GPU) / 53 (Ascend)")


CASES: dict[str, Callable[[str], Case]] = {"lenet": lenet, "gitloss": gitloss, "cosine_metric_learning": cosine,
                                           "sesemi": sesemi}  # fmt: skip
TARGETS = {"cosine_metric_learning": "<= 8.5", "sesemi": "<= 15"}  # the GPU targets


def time_case(case: Case, warmup: int, steps: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        case.model.train_on_batch(case.inputs, case.targets)
    windows = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            logs = case.model.train_on_batch(case.inputs, case.targets)
        np.asarray(logs)  # the step's result on the host: the device has finished
        windows.append(1000.0 * (time.perf_counter() - start) / steps)
    return windows


def device_name() -> str:
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        d = jax.devices()[0]
        return f"{d.platform}: {getattr(d, 'device_kind', d)}"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return f"gpu: {gpus[0].name}" if gpus else f"cpu: {platform.processor() or platform.machine()}"
    return backend


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Recipe training steps: ms/step at the seeds' batch sizes")
    parser.add_argument("--recipes", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}")
    parser.add_argument("--steps", type=int, default=100, help="timed steps per window")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (compilation)")
    parser.add_argument("--repeats", type=int, default=3, help="timed windows per recipe")
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed_float16", "mixed_bfloat16"])
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        parser.error(f"unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")

    rows = []
    for name in names:
        keras.utils.set_random_seed(0)
        case = CASES[name](args.precision)
        windows = time_case(case, args.warmup, args.steps, args.repeats)
        median = statistics.median(windows)
        rows.append((name, median, min(windows), case.samples * 1000.0 / median, case.seed_ms))
        print(f"  {name}: {', '.join(f'{w:.2f}' for w in windows)} ms/step", flush=True)
        keras.backend.clear_session()

    print(f"\nbackend {keras.backend.backend()} on {device_name()}, {os.cpu_count()} CPUs, precision {args.precision}, "
          f"{args.steps} steps x {args.repeats} windows after {args.warmup} warm-up steps")  # fmt: skip
    print(f"{'recipe':<24}{'median ms/step':>15}{'best':>9}{'samples/s':>11}  {'target':<8}  seed's figure (ms/step)")
    for name, median, best, rate, seed in rows:
        print(f"{name:<24}{median:15.2f}{best:9.2f}{rate:11.0f}  {TARGETS.get(name, '-'):<8}  {seed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
