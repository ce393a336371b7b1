"""Train the seed's LeNet on MNIST idx files: resumable, checkpointed, timed, with the seed's log lines.

Entry point `train(hp, env)` is what the job's boot core calls (recipes/lenet.yaml `trainer`).
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
from recipes.lenet.hparams import LeNetHyperparameters
from recipes.lenet.model import build_lenet, to_inputs
from recipes.mnist.idx import load_mnist

TENSORBOARD_DIR = "tensorboard"  # the seed's test/output/logs: loss and accuracy scalars, fc_3 weight histograms
PERFORMANCE_FILE = "performance_precision.txt"  # the seed's summary file name and line format
HISTORY_FILE = "history.json"
EXPORT_DIR = "export"


@dataclass
class History:
    """Curves for history.json and the plot; carried in checkpoints so a resumed job keeps its whole curve."""

    loss: list[tuple[int, float]] = field(default_factory=list)  # (global step, mean loss over the log window)
    accuracy: list[tuple[int, float]] = field(default_factory=list)  # (global step, seed accuracy) per epoch

    def to_json(self) -> dict[str, Any]:
        return {"loss": self.loss, "accuracy": self.accuracy}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> History:
        return cls([tuple(p) for p in data.get("loss", [])], [tuple(p) for p in data.get("accuracy", [])])


def compile_lenet(hp: LeNetHyperparameters) -> keras.Model:
    model = build_lenet(dtype=hp.precision)
    optimizer: keras.optimizers.Optimizer = keras.optimizers.Adam(learning_rate=hp.learning_rate)
    if hp.precision == "mixed_float16":
        # float16 gradients underflow without loss scaling (the seed's dynamic loss scale on Ascend).
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    logits = model.predict(x, batch_size=max(batch_size, 256), verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == y))


def seed_eval_indices(num_test: int, hp: LeNetHyperparameters) -> np.ndarray:
    """The seed's accuracy sample: eval_batches batches of batch_size from a shuffled test set."""
    count = min(num_test, hp.eval_batches * hp.batch_size)
    return np.random.default_rng([hp.seed, 1]).permutation(num_test)[:count]


def train(hp: LeNetHyperparameters, env: JobEnvironment) -> dict[str, float]:
    set_random_seed(hp.seed)
    data = load_mnist(env.data_dir)
    x_train, y_train = to_inputs(data.x_train), data.y_train.astype(np.int32)
    x_test, y_test = to_inputs(data.x_test), data.y_test.astype(np.int32)
    eval_idx = seed_eval_indices(len(x_test), hp)
    print(
        f"data: {len(x_train)} train / {len(x_test)} test images from {env.data_dir}; "
        f"backend {keras.backend.backend()}; {hp.epochs} epochs x {hp.steps} steps at batch {hp.batch_size}",
        flush=True,
    )

    model = compile_lenet(hp)
    step, state = restore_latest(model, env.checkpoint_dir)
    history, ms_before = History.from_json(state.get("history", {})), state.get("ms_per_step")

    sampler = BatchSampler(len(x_train), hp.batch_size, hp.seed)
    timer = StepTimer()
    window: list[float] = []  # losses since the last log line
    recent: deque[float] = deque(maxlen=hp.log_every)  # for the reported final loss
    started = time.perf_counter()
    events = summary_writer(env.output_dir, env.is_chief, TENSORBOARD_DIR)

    def checkpoint(at_step: int) -> None:
        if not env.is_chief:  # ranks share one output_url: one writer
            return
        ms = timer.mean_ms() if timer.durations else ms_before
        state = {"history": history.to_json(), "ms_per_step": ms, "hyperparameters": hp.model_dump()}
        save_checkpoint(env.checkpoint_dir, at_step, lambda folder: write_training_state(model, folder), state)
        prune_checkpoints(env.checkpoint_dir, hp.keep_checkpoints)

    try:
        while step < hp.total_steps:
            timer.start()
            idx = sampler.indices(step)
            logs = model.train_on_batch(x_train[idx], y_train[idx], return_dict=True)
            timer.stop()
            step += 1
            report_progress(env, step, hp.total_steps, metrics=logs, samples_per_step=hp.batch_size)
            window.append(float(logs["loss"]))
            recent.append(window[-1])
            if step % hp.log_every == 0 or step == hp.total_steps:
                epoch, in_epoch = divmod(step - 1, hp.steps)
                mean_loss, sec_per_step = float(np.mean(window)), timer.window_mean_s(len(window))
                print(
                    f"epoch : {epoch + 1}----step : {in_epoch + 1}----loss : {mean_loss:.6f}"
                    f"----sec/step : {sec_per_step:.6f}",
                    flush=True,
                )
                history.loss.append((step, mean_loss))
                events.scalars(step, {"loss": mean_loss, "sec_per_step": sec_per_step})
                events.histogram(step, "fc_3/weights", keras.ops.convert_to_numpy(model.get_layer("fc3").kernel))
                window = []
            if step % hp.steps == 0:
                history.accuracy.append((step, accuracy(model, x_test[eval_idx], y_test[eval_idx], hp.batch_size)))
                events.scalars(step, {"accuracy": history.accuracy[-1][1]})
            if step % hp.checkpoint_interval == 0 or step == hp.total_steps:
                checkpoint(step)
    finally:
        events.close()

    duration = time.perf_counter() - started
    ms = timer.mean_ms() if timer.durations else ms_before
    metrics = {
        "accuracy": accuracy(model, x_test[eval_idx], y_test[eval_idx], hp.batch_size),
        "full_test_accuracy": accuracy(model, x_test, y_test, hp.batch_size),
        "loss": float(np.mean(recent)) if recent else _last_loss(history),
        "steps": float(step),
        "ms_per_step": float(ms or 0.0),
        "samples_per_sec": hp.batch_size * 1000.0 / ms if ms else 0.0,
        "train_seconds": duration,
    }
    if env.is_chief:
        _write_outputs(env.output_dir, metrics, history, hp)
    if hp.export and env.is_chief:
        from recipes.lenet.export import export_inference

        for kind, path in export_inference(model, env.output_dir / EXPORT_DIR).items():
            print(f"exported {kind}: {path}", flush=True)
    return metrics


def _last_loss(history: History) -> float:
    return float(history.loss[-1][1]) if history.loss else 0.0


def _write_outputs(output_dir: Path, metrics: dict[str, float], history: History, hp: LeNetHyperparameters) -> None:
    """The seed's performance_precision.txt, plus history.json and the curve plot."""
    from recipes.common.curves import plot_curves

    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / PERFORMANCE_FILE).write_text(
        f"Final Accuracy accuracy : {metrics['accuracy']:.4f}\n"
        f"Final Performance ms/step : {metrics['ms_per_step']:.4f}\n"
        f"Final Performance images/sec : {metrics['samples_per_sec']:.2f}\n"
        f"Final Training Duration sec : {metrics['train_seconds']:.2f}\n"
    )
    (output_dir / HISTORY_FILE).write_text(json.dumps({**history.to_json(), "final": metrics}, indent=2))
    plot_curves(output_dir / "curves.png", history.loss, history.accuracy, title=f"LeNet, batch {hp.batch_size}")
