"""GE-ResNet-50 throughput: the JPEG pipeline alone, the model alone (data already on the device) and end to end.

    KERAS_BACKEND=jax python bench/genet.py                                   # CUDA machine: seed sizes, fp16
    KERAS_BACKEND=jax python bench/genet.py --data /data/imagenet             # real ImageNet folders (train/)
    KERAS_BACKEND=jax python bench/genet.py --image-size 64 --batch-size 8 --classes 10 --steps 3 --warmup 1 \
        --precision float32 --images 64 --image-side 120                     # a quick CPU proof

Cases (`--variants`, default the fastest and slowest: theta_minus, theta_plus), each built by the trainer's own
`compile_genet` (SGD + lr schedule + label smoothing, loss scale under mixed_float16) and run with the trainer's
`setup_distribution` (DataParallel over every visible device on JAX; `--batch-size` is per device):
- model: `train_on_batch` on one uint8 batch converted to a device array once, so no host work is timed;
- end-to-end: the trainer's loop: BatchLoader decodes JPEGs from `--data` (or a generated ImageNet-format folder
  of `--images` JPEGs about `--image-side` pixels a side) in `--workers` threads, `--prefetch` batches ahead.
- pipeline: the BatchLoader alone over `--pipeline-batches` batches: images/s, and per CPU core it may use.
Each timed figure is the median ms/step over `--steps` steps after `--warmup` steps (compilation, pool start-up).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

import keras
import numpy as np

from recipes.common.filetree import FileTree
from recipes.common.sampler import BatchSampler
from recipes.genet_res50.data import (
    BatchLoader,
    ImageFolder,
    default_workers,
    image_folder,
)
from recipes.genet_res50.hparams import GENetHyperparameters
from recipes.genet_res50.synthetic import write_imagenet
from recipes.genet_res50.train import compile_genet, setup_distribution

VARIANTS = {
    "theta_minus": (False, False),
    "theta": (True, False),
    "theta_plus": (True, True),
}


def timed(step, warmup: int, steps: int) -> float:
    """Median seconds per call of `step` after `warmup` calls."""
    for _ in range(warmup):
        step()
    durations = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        durations.append(time.perf_counter() - start)
    return statistics.median(durations)


def cpu_cores() -> int:
    return (
        len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count() or 1
    )


def bench_variant(
    name: str,
    args: argparse.Namespace,
    global_batch: int,
    train_set: ImageFolder,
    sampler: BatchSampler,
    workers: int,
) -> tuple[int, float, float]:
    """(parameters, model-only s/step, end-to-end s/step) of one variant."""
    extra, mlp = VARIANTS[name]
    hp = GENetHyperparameters(
        extra=extra,
        mlp=mlp,
        class_num=args.classes,
        image_size=args.image_size,
        batch_size=args.batch_size,
        precision=args.precision,
    )
    model = compile_genet(hp, total_steps=1000)
    rng = np.random.default_rng(0)
    x = keras.ops.convert_to_tensor(
        rng.integers(
            0,
            256,
            (global_batch, args.image_size, args.image_size, 3),
            dtype=np.uint8,
        )
    )
    y = keras.ops.convert_to_tensor(
        rng.integers(0, args.classes, global_batch).astype(np.int32)
    )
    model_s = timed(lambda: model.train_on_batch(x, y), args.warmup, args.steps)

    with BatchLoader(
        train_set, args.image_size, True, 0, workers, args.prefetch
    ) as loader:
        stream = loader.train_batches(sampler, 0, 10**9)

        def end_to_end() -> None:
            images, labels = next(stream)
            model.train_on_batch(images, labels)

        e2e_s = timed(end_to_end, args.warmup, args.steps)
    return model.count_params(), model_s, e2e_s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="theta_minus,theta_plus")
    parser.add_argument(
        "--batch-size", type=int, default=256, help="per device (seed 256)"
    )
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument(
        "--precision",
        default="mixed_float16",
        choices=["float32", "mixed_float16", "mixed_bfloat16"],
    )
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--data", type=Path, help="ImageNet-style folder with train/<class>/*.JPEG"
    )
    parser.add_argument(
        "--images",
        type=int,
        default=1024,
        help="generated JPEGs when --data is not given",
    )
    parser.add_argument(
        "--image-side",
        type=int,
        default=400,
        help="typical side of generated JPEGs (ImageNet ~400)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="decode threads (default: every core)"
    )
    parser.add_argument("--prefetch", type=int, default=2)
    parser.add_argument("--pipeline-batches", type=int, default=8)
    args = parser.parse_args(argv)

    devices = setup_distribution()
    global_batch = args.batch_size * devices
    workers = args.workers or default_workers()
    print(
        f"backend {keras.backend.backend()} {keras.__version__}; devices: {keras.distribution.list_devices()}; "
        f"{platform.processor() or platform.machine()}, {cpu_cores()} CPU cores; global batch {global_batch}, "
        f"{args.image_size}px, {args.precision}, {workers} decode threads",
        flush=True,
    )

    with tempfile.TemporaryDirectory() as scratch:
        data = args.data
        if data is None:
            per_class = -(-args.images // 10)
            data = write_imagenet(
                Path(scratch), classes=10, train=per_class, val=1, size=args.image_side
            )
            print(
                f"generated {10 * per_class} train JPEGs of ~{args.image_side}px in {data}",
                flush=True,
            )
        train_set = image_folder(FileTree(data), "train")
        sampler = BatchSampler(len(train_set), global_batch, seed=0)

        # the pipeline alone
        with BatchLoader(
            train_set, args.image_size, True, 0, workers, args.prefetch
        ) as loader:
            start = (
                time.perf_counter()
            )  # from the first request: prefetched batches are not free
            count = sum(
                len(labels)
                for _, labels in loader.train_batches(sampler, 0, args.pipeline_batches)
            )
            pipe = count / (time.perf_counter() - start)
        used_cores = min(workers, cpu_cores())
        print(
            f"pipeline alone: {pipe:.1f} images/s on {used_cores} cores = {pipe / used_cores:.1f} images/s/core",
            flush=True,
        )

        rows = []
        for name in filter(
            None, args.variants.split(",")
        ):  # --variants "" measures the pipeline alone
            params, model_s, e2e_s = bench_variant(
                name, args, global_batch, train_set, sampler, workers
            )
            rows.append((name, params, model_s, e2e_s))
            print(
                f"{name}: model {1000 * model_s:.1f} ms/step, end-to-end {1000 * e2e_s:.1f} ms/step",
                flush=True,
            )

    if not rows:
        return
    print()
    print(
        "| variant | params | model ms/step | model img/s | end-to-end ms/step | end-to-end img/s | pipeline img/s "
        "(per core) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, params, model_s, e2e_s in rows:
        print(
            f"| GE-{name} | {params / 1e6:.1f}M | {1000 * model_s:.1f} | {global_batch / model_s:.1f} | "
            f"{1000 * e2e_s:.1f} | {global_batch / e2e_s:.1f} | {pipe:.0f} ({pipe / used_cores:.0f}) |"
        )


if __name__ == "__main__":
    main()
