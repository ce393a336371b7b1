"""Train the seed's GE-ResNet-50 on ImageNet-style folders: data parallel, resumable, checkpointed, top-1/top-5.

Entry point `train(hp, env)` is what the job's boot core calls (recipes/genet_res50.yaml `trainer`); `--mode eval`
and `--mode export` hand over to recipes.genet_res50.inference.
Nothing here imports TensorFlow: under KERAS_BACKEND=jax with more than one visible device the batch is split over
all of them (keras.distribution.DataParallel); `batch_size` is per device, as in the seed's 8-card runs.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from entry.checkpoints import save_checkpoint
from entry.environment import JobEnvironment
from entry.progress import report_progress
from recipes.common.checkpoint_files import prune_checkpoints
from recipes.common.keras_state import restore_latest, write_training_state
from recipes.common.sampler import BatchSampler
from recipes.common.seeding import set_random_seed
from recipes.common.tensorboard import summary_writer
from recipes.common.timing import StepTimer
from recipes.genet_res50.data import BatchLoader, ImageFolder, open_imagenet
from recipes.genet_res50.hparams import SEED_GLOBAL_BATCH, GENetHyperparameters
from recipes.genet_res50.model import build_genet
from recipes.genet_res50.schedule import SmoothedSparseCE, StepLearningRate

TENSORBOARD_DIR = "tensorboard"
HISTORY_FILE = "history.json"
EVAL_FILE = "eval.json"


@dataclass
class History:
    loss: list[tuple[int, float]] = field(
        default_factory=list
    )  # (global step, mean loss over the log window)
    top1: list[tuple[int, float]] = field(default_factory=list)
    top5: list[tuple[int, float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"loss": self.loss, "top1": self.top1, "top5": self.top5}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> History:
        return cls(
            *([tuple(p) for p in data.get(k, [])] for k in ("loss", "top1", "top5"))
        )


def setup_distribution() -> int:
    """Use every visible accelerator: DataParallel on JAX when there is more than one. Returns the device count."""
    if keras.backend.backend() != "jax":
        return 1
    devices = keras.distribution.list_devices()
    if len(devices) > 1:
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=devices)
        )
    return len(devices)


def compile_genet(
    hp: GENetHyperparameters, total_steps: int, global_batch: int | None = None
) -> keras.Model:
    model = build_genet(
        hp.class_num,
        hp.image_size,
        hp.extra,
        hp.mlp,
        hp.weight_decay,
        hp.bn_momentum,
        hp.gather_bn_momentum,
        dtype=hp.precision,
    )
    lr_init, lr_end = hp.learning_rates(global_batch or hp.batch_size)
    schedule = StepLearningRate(total_steps, lr_init, lr_end, hp.decay)
    optimizer: keras.optimizers.Optimizer = keras.optimizers.SGD(
        learning_rate=schedule, momentum=hp.momentum
    )
    if hp.precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(
            optimizer, initial_scale=hp.loss_scale
        )
    model.compile(optimizer=optimizer, loss=SmoothedSparseCE(hp.label_smooth_factor))
    return model


def topk_correct(logits: np.ndarray, labels: np.ndarray, k: int) -> int:
    top = np.argpartition(-logits, min(k, logits.shape[1]) - 1, axis=1)[:, :k]
    return int(np.sum(np.any(top == labels[:, None], axis=1)))


def evaluate(
    model: keras.Model,
    loader: BatchLoader,
    batch_size: int,
    drop_remainder: bool = True,
) -> dict[str, float]:
    """The seed's eval.py: top-1/top-5 over full batches (remainder dropped, e.g. 49,920 of 50,000), or every image."""
    seen = top1 = top5 = 0
    for images, labels in loader.eval_batches(batch_size, drop_remainder):
        logits = keras.ops.convert_to_numpy(model.predict_on_batch(images)).astype(
            np.float32
        )
        seen, top1, top5 = (
            seen + len(labels),
            top1 + topk_correct(logits, labels, 1),
            top5 + topk_correct(logits, labels, 5),
        )
    return {
        "top_1_accuracy": top1 / max(seen, 1),
        "top_5_accuracy": top5 / max(seen, 1),
        "images": float(seen),
    }


def result_line(result: dict[str, float]) -> str:
    """The seed's eval.py line: `result: {'top_5_accuracy': 0.94..., 'top_1_accuracy': 0.78...}`."""
    seed_order = {
        "top_5_accuracy": result["top_5_accuracy"],
        "top_1_accuracy": result["top_1_accuracy"],
    }
    return f"result: {seed_order}"


def plan(
    hp: GENetHyperparameters, train_set: ImageFolder, devices: int
) -> tuple[int, int, int]:
    """(global batch, steps per epoch with the remainder dropped, total steps of the lr schedule)."""
    global_batch = hp.batch_size * devices
    steps_per_epoch = len(train_set) // global_batch
    if steps_per_epoch == 0:
        raise ValueError(
            f"{len(train_set)} training images are fewer than one global batch of {global_batch}"
        )
    return global_batch, steps_per_epoch, hp.epochs * steps_per_epoch


def train(hp: GENetHyperparameters, env: JobEnvironment) -> dict[str, float]:
    if hp.mode != "train":  # the seed's eval.py / export.py on one checkpoint
        from recipes.genet_res50.inference import run_on_checkpoint

        return run_on_checkpoint(hp, env)
    set_random_seed(hp.seed)
    devices = setup_distribution()
    train_set, val_set = open_imagenet(env.data_dir)
    if len(train_set.classes) != hp.class_num:
        raise ValueError(
            f"class_num={hp.class_num} but {env.data_dir} has {len(train_set.classes)} class folders"
        )
    global_batch, steps_per_epoch, total_steps = plan(hp, train_set, devices)
    stop = min(total_steps, hp.steps) if hp.steps else total_steps
    lr_init, lr_end = hp.learning_rates(global_batch)
    ckpt_every = hp.save_checkpoint_epochs * steps_per_epoch
    eval_every = (
        hp.eval_every_epochs * steps_per_epoch if hp.eval_every_epochs else None
    )
    print(
        f"GE-{hp.variant}: {len(train_set)} train / {len(val_set)} val images, {len(train_set.classes)} classes from "
        f"{env.data_dir}; backend {keras.backend.backend()} on {devices} device(s), global batch {global_batch}; "
        f"{hp.epochs} epochs x {steps_per_epoch} steps, {hp.decay} lr {lr_init:g} -> {lr_end:g} over {total_steps} steps"
        + (f" (lr_init {hp.lr_init:g} x {global_batch}/{SEED_GLOBAL_BATCH})" if hp.lr_scale_by_batch else "")
        + (f", stopping at step {stop}" if stop < total_steps else ""),
        flush=True,
    )

    model = compile_genet(hp, total_steps, global_batch)
    schedule = StepLearningRate(total_steps, lr_init, lr_end, hp.decay)
    step, state = restore_latest(model, env.checkpoint_dir)
    history, ms_before = History.from_json(state.get("history", {})), state.get("ms_per_step")
    sampler = BatchSampler(len(train_set), global_batch, hp.seed)
    train_loader = BatchLoader(
        train_set, hp.image_size, True, hp.seed, hp.workers, hp.prefetch, hp.crop_min_area
    )
    val_loader = BatchLoader(
        val_set, hp.image_size, False, hp.seed, hp.workers, hp.prefetch
    )
    timer = StepTimer()
    window: list[float] = []
    recent: deque[float] = deque(maxlen=hp.log_every)
    events = summary_writer(env.output_dir, env.is_chief, TENSORBOARD_DIR)
    started = time.perf_counter()

    def checkpoint(at_step: int) -> None:
        if not env.is_chief:
            return
        ms = timer.mean_ms() if timer.durations else ms_before
        state = {
            "history": history.to_json(),
            "ms_per_step": ms,
            "epoch": at_step / steps_per_epoch,
            "hyperparameters": hp.model_dump(),
        }
        save_checkpoint(
            env.checkpoint_dir,
            at_step,
            lambda folder: write_training_state(model, folder),
            state,
        )
        prune_checkpoints(env.checkpoint_dir, hp.keep_checkpoint_max)

    def score(at_step: int) -> dict[str, float]:
        result = evaluate(model, val_loader, min(hp.eval_batch_size, len(val_set)))
        history.top1.append((at_step, result["top_1_accuracy"]))
        history.top5.append((at_step, result["top_5_accuracy"]))
        events.scalars(
            at_step,
            {
                "top_1_accuracy": result["top_1_accuracy"],
                "top_5_accuracy": result["top_5_accuracy"],
            },
        )
        print(f"step {at_step} {result_line(result)}", flush=True)
        return result

    try:
        batches = train_loader.train_batches(sampler, step, stop)
        while step < stop:
            images, labels = next(
                batches
            )  # decoding runs ahead in the pool; only the wait is outside the timer
            timer.start()
            logs = model.train_on_batch(images, labels, return_dict=True)
            timer.stop()
            step += 1
            report_progress(env, step, stop, metrics=logs, samples_per_step=global_batch)
            window.append(float(logs["loss"]))
            recent.append(window[-1])
            if step % hp.log_every == 0 or step == stop:
                epoch, in_epoch = divmod(step - 1, steps_per_epoch)
                mean_loss, sec = (
                    float(np.mean(window)),
                    timer.window_mean_s(len(window)),
                )
                print(
                    f"epoch: {epoch + 1} step: {in_epoch + 1}, loss is {mean_loss:.7f} ({sec:.4f} sec/step)",
                    flush=True,
                )
                history.loss.append((step, mean_loss))
                lr = float(keras.ops.convert_to_numpy(schedule(step)))
                events.scalars(
                    step, {"loss": mean_loss, "sec_per_step": sec, "learning_rate": lr}
                )
                window = []
            if eval_every and step % eval_every == 0 and step != stop:
                score(step)
            if step % ckpt_every == 0 or step == stop:
                checkpoint(step)
        final = score(step)
        full = evaluate(
            model,
            val_loader,
            min(hp.eval_batch_size, len(val_set)),
            drop_remainder=False,
        )
    finally:
        events.close()
        train_loader.close()
        val_loader.close()

    duration = time.perf_counter() - started
    ms = timer.mean_ms() if timer.durations else ms_before
    metrics = {
        "top_1_accuracy": final["top_1_accuracy"],
        "top_5_accuracy": final["top_5_accuracy"],
        "full_val_top_1_accuracy": full["top_1_accuracy"],
        "full_val_top_5_accuracy": full["top_5_accuracy"],
        "loss": float(np.mean(recent))
        if recent
        else (history.loss[-1][1] if history.loss else 0.0),
        "steps": float(step),
        "epochs": step / steps_per_epoch,
        "devices": float(devices),
        "ms_per_step": float(ms or 0.0),
        "samples_per_sec": global_batch * 1000.0 / ms if ms else 0.0,
        "train_seconds": duration,
    }
    if env.is_chief:
        _write_outputs(env.output_dir, metrics, history, hp, final)
    return metrics


def _write_outputs(
    output_dir: Path,
    metrics: dict[str, float],
    history: History,
    hp: GENetHyperparameters,
    final: dict[str, float],
) -> None:
    from recipes.common.curves import plot_curves

    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / EVAL_FILE).write_text(
        json.dumps(
            {
                "top_5_accuracy": final["top_5_accuracy"],
                "top_1_accuracy": final["top_1_accuracy"],
            }
        )
    )
    (output_dir / HISTORY_FILE).write_text(
        json.dumps({**history.to_json(), "final": metrics}, indent=2)
    )
    plot_curves(
        output_dir / "curves.png",
        history.loss,
        history.top1,
        title=f"GE-{hp.variant} ResNet-50",
        accuracy_label="val top-1",
    )
