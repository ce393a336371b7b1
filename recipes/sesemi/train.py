"""Train SESEMI on CIFAR-10, then score the test set with the 8-view dense evaluation: `train(hp, env)`.

Each step: 6 x batch_size labelled images (augmented, flipped) for the supervised head, and batch_size images
(from all training images, or the labelled ones) in their 6 geometric versions for the self-supervised head;
SGD Nesterov with a per-step poly decay to zero at the last step. Prints the original's
`classification error rate: X` at the end; saves the classifier as .keras and .h5 with the preprocessing it needs.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

import keras
import numpy as np

from entry.checkpoints import save_checkpoint
from entry.environment import JobEnvironment
from entry.progress import report_progress
from launcher.errors import UserError
from recipes.common.checkpoint_files import prune_checkpoints
from recipes.common.curves import plot_curves
from recipes.common.keras_state import restore_latest, write_training_state
from recipes.common.sampler import BatchSampler
from recipes.common.seeding import set_random_seed, tensorflow_unused
from recipes.common.tensorboard import summary_writer
from recipes.common.timing import StepTimer
from recipes.sesemi.augment import NUM_TRANSFORMS, augment, geometric_transforms
from recipes.sesemi.cifar import load_cifar10
from recipes.sesemi.evaluate import dense_error, single_view_error
from recipes.sesemi.hparams import SesemiHyperparameters
from recipes.sesemi.model import build_sesemi, classifier, compile_sesemi, poly_decay
from recipes.sesemi.preprocess import (
    Whitener,
    fit_zca,
    global_contrast_normalize,
    preprocess,
    stratified_sample,
)

HISTORY_FILE = "history.json"
TENSORBOARD_DIR = "tensorboard"
EXPORT_DIR = "export"
PREDICT_BATCH = 500


def build(hp: SesemiHyperparameters, total_steps: int) -> keras.Model:
    optimizer: keras.optimizers.Optimizer = keras.optimizers.SGD(
        poly_decay(hp.learning_rate, total_steps), momentum=0.9, nesterov=True
    )
    if hp.precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model = build_sesemi(hp.network, hp.width, hp.weight_decay, hp.head_dropout, hp.precision)
    return compile_sesemi(model, optimizer)


def branch_batch(
    x: np.ndarray, y: np.ndarray, labelled: np.ndarray, unlabelled: np.ndarray, step: int, samplers: tuple[BatchSampler, BatchSampler],
    hp: SesemiHyperparameters,
) -> tuple[list[np.ndarray], list[np.ndarray]]:  # fmt: skip
    """Inputs and targets of step `step`: a pure function of the step, so a resumed job sees the same batches."""
    rng = np.random.default_rng([hp.seed, step, 2])
    sup_idx = labelled[samplers[0].indices(step)]
    self_idx = unlabelled[samplers[1].indices(step)]
    x_sup = augment(x[sup_idx], rng, hp.hflip)
    x_self, y_self = geometric_transforms(augment(x[self_idx], rng, hflip=False))
    return [x_sup, x_self], [y[sup_idx], y_self]


def predictor(model: keras.Model) -> Any:
    net = classifier(model)

    def predict(images: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(net.predict_on_batch(images[s : s + PREDICT_BATCH]), np.float32)
                               for s in range(0, len(images), PREDICT_BATCH)])  # fmt: skip

    return predict


def self_supervised_accuracy(model: keras.Model, images: np.ndarray) -> float:
    """How often the self-supervised head names the transform applied to a test image (6-way)."""
    transformed, targets = geometric_transforms(images)
    head = keras.Model(model.inputs[1], model.outputs[1])
    probs = np.concatenate([np.asarray(head.predict_on_batch(transformed[s : s + PREDICT_BATCH]))
                            for s in range(0, len(transformed), PREDICT_BATCH)])  # fmt: skip
    return float(np.mean(probs.argmax(axis=1) == targets))


def train(hp: SesemiHyperparameters, env: JobEnvironment) -> dict[str, float]:
    set_random_seed(hp.seed)
    data = load_cifar10(env.data_dir)
    try:
        labelled = stratified_sample(data.y_train, hp.labels)
    except ValueError as error:
        raise UserError(f"{env.data_dir}: {error}") from None
    unlabelled = np.arange(len(data.y_train)) if hp.self_supervised_data == "all" else labelled
    whitener: Whitener | None = fit_zca(global_contrast_normalize(data.x_train)) if hp.zca else None
    x_train, x_test = preprocess(data.x_train, whitener), preprocess(data.x_test, whitener)
    total = hp.total_steps(len(labelled), len(data.y_train))
    print(
        f"data: {len(data.y_train)} training images ({len(labelled)} labelled; self-supervised branch on "
        f"{len(unlabelled)}), {len(data.y_test)} test, from {env.data_dir}; {hp.network} x{hp.width}; "
        f"{total} steps at batch {hp.batch_size}; backend {keras.backend.backend()}",
        flush=True,
    )
    model = build(hp, total)
    step, state = restore_latest(model, env.checkpoint_dir)
    history: dict[str, list[dict[str, float]]] = state.get("history", {"train": [], "test": []})
    samplers = (BatchSampler(len(labelled), hp.batch_size * NUM_TRANSFORMS, hp.seed),
                BatchSampler(len(unlabelled), hp.batch_size, hp.seed + 1))  # fmt: skip
    timer = StepTimer()
    recent: deque[tuple[float, float]] = deque(maxlen=hp.log_every)
    events = summary_writer(env.output_dir, env.is_chief, TENSORBOARD_DIR)
    predict = predictor(model)

    def checkpoint(at_step: int) -> None:
        if env.is_chief:
            extra = {"history": history, "ms_per_step": timer.mean_ms() or state.get("ms_per_step")}
            save_checkpoint(env.checkpoint_dir, at_step, lambda folder: write_training_state(model, folder), extra)
            prune_checkpoints(env.checkpoint_dir, hp.keep_checkpoints)

    try:
        while step < total:
            inputs, targets = branch_batch(x_train, data.y_train, labelled, unlabelled, step, samplers, hp)
            timer.start()
            logs = model.train_on_batch(inputs, targets, return_dict=True)
            timer.stop()
            step += 1
            report_progress(env, step, total, metrics=logs, samples_per_step=2 * NUM_TRANSFORMS * hp.batch_size)
            recent.append((float(logs["supervised_loss"]), float(logs["self_supervised_loss"])))
            if step % hp.log_every == 0 or step == total:
                sup, self_sup = np.mean(recent, axis=0)
                row = {"step": step, "loss": float(logs["loss"]), "supervised_loss": float(sup),
                       "self_supervised_loss": float(self_sup), "sec_per_step": timer.window_mean_s(hp.log_every)}  # fmt: skip
                history["train"].append(row)
                events.scalars(step, {k: v for k, v in row.items() if k != "step"})
                print(f"step {step}/{total}: supervised_loss {sup:.4f} self_supervised_loss {self_sup:.4f} "
                      f"sec/step {row['sec_per_step']:.4f}", flush=True)  # fmt: skip
            if hp.eval_every and step % hp.eval_every == 0 and step < total:
                row = {"step": step, "error": single_view_error(predict, x_test, data.y_test),
                       "self_supervised_accuracy": self_supervised_accuracy(model, x_test)}  # fmt: skip
                history["test"].append(row)
                events.scalars(step, {f"test/{k}": v for k, v in row.items() if k != "step"})
                print(f"step {step}: test error (1 view) {row['error']:.4f}, self-supervised accuracy "
                      f"{row['self_supervised_accuracy']:.3f}", flush=True)  # fmt: skip
            if step % hp.checkpoint_every == 0 or step == total:
                checkpoint(step)
        error = dense_error(predict, x_test, data.y_test, hp.seed, hp.hflip)
        final = {"step": step, "error": error, "error_single_view": single_view_error(predict, x_test, data.y_test),
                 "self_supervised_accuracy": self_supervised_accuracy(model, x_test)}  # fmt: skip
        history["test"].append(final)
        events.scalars(step, {f"test/{k}": v for k, v in final.items() if k != "step"})
    finally:
        events.close()
    print(f"classification error rate: {error:.4f}", flush=True)  # the original's last line

    ms = timer.mean_ms() or state.get("ms_per_step") or 0.0
    images_per_step = 2 * NUM_TRANSFORMS * hp.batch_size  # labelled + transformed
    metrics = {
        "error": error,
        "accuracy": 1.0 - error,
        "error_single_view": final["error_single_view"],
        "self_supervised_accuracy": final["self_supervised_accuracy"],
        "loss": float(np.sum(np.mean(recent, axis=0))) if recent else float(history["train"][-1]["loss"]),
        "steps": float(step),
        "ms_per_step": float(ms),
        "samples_per_sec": images_per_step * 1000.0 / ms if ms else 0.0,
    }
    if env.is_chief:
        _write_outputs(env.output_dir, model, whitener, metrics, history)
    return metrics


def _write_outputs(
    output_dir: Path, model: keras.Model, whitener: Whitener | None, metrics: dict[str, float],
    history: dict[str, list[dict[str, float]]],
) -> None:  # fmt: skip
    """history.json, curves.png, and export/: the classifier (.keras, and .h5 as the seed saved it) plus the
    preprocessing its inputs need (preprocessing.npz: ZCA mean and matrix; GCN has no parameters)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / HISTORY_FILE).write_text(json.dumps({**history, "final": metrics}, indent=2))
    plot_curves(
        output_dir / "curves.png",
        [(h["step"], h["loss"]) for h in history["train"]],
        [(h["step"], 1.0 - h["error"]) for h in history["test"]],
        title="SESEMI: training loss and test accuracy",
    )
    export = output_dir / EXPORT_DIR
    export.mkdir(parents=True, exist_ok=True)
    net = classifier(model)
    with tensorflow_unused():  # Keras' writers would import TensorFlow just to rule out its types
        net.save(export / "sesemi_classifier.keras")
        net.save(export / "sesemi_classifier.h5")
    arrays = {"zca_mean": whitener.mean, "zca_matrix": whitener.matrix} if whitener is not None else {}
    np.savez(export / "preprocessing.npz", **arrays)
