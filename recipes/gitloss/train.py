"""Train GitLoss on MNIST idx files: resumable, checkpointed, with the original code's evaluation and plots.

Entry point `train(hp, env)` is what the job's boot core calls (recipes/gitloss.yaml `trainer`).
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
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
from recipes.common.seeding import set_random_seed
from recipes.common.tensorboard import summary_writer
from recipes.common.timing import StepTimer
from recipes.gitloss import metrics as M
from recipes.gitloss.hparams import GitLossHyperparameters
from recipes.gitloss.model import GitLossNet
from recipes.gitloss.plot import plot_embedding
from recipes.mnist.idx import load_mnist

LOG_FILE = "loss+perf.txt"  # the port's per-evaluation log ({exp_save_dir}/loss+perf_gpu.txt)
HISTORY_FILE = "history.json"
PLOTS_DIR = "plots"
TENSORBOARD_DIR = "tensorboard"


@dataclass
class Split:
    """Network inputs (mean-subtracted, NHWC float32) and int32 labels."""

    x: np.ndarray
    y: np.ndarray


def make_splits(data_dir: Path, hp: GitLossHyperparameters) -> tuple[Split, Split]:
    """Train and validation as the TF MNIST reader split them (or t10k as validation), minus the train mean image."""
    data = load_mnist(data_dir)
    images = data.x_train.astype(np.float32)[..., None] / 255.0
    labels = data.y_train.astype(np.int32)
    if hp.validation_from == "train":
        if len(images) - hp.validation_size < hp.batch_size:
            raise UserError(
                f"{data_dir}: {len(images)} training images leave fewer than batch_size={hp.batch_size} after the "
                f"first validation_size={hp.validation_size} go to validation; lower validation_size or set "
                "validation_from=test."
            )
        val_x, val_y = images[: hp.validation_size], labels[: hp.validation_size]
        images, labels = images[hp.validation_size :], labels[hp.validation_size :]
    else:
        val_x, val_y = data.x_test.astype(np.float32)[..., None] / 255.0, data.y_test.astype(np.int32)
    mean_image = images.mean(axis=0)
    return Split(images - mean_image, labels), Split(val_x - mean_image, val_y)


def build(hp: GitLossHyperparameters) -> GitLossNet:
    model = GitLossNet(lambda_c=hp.lambda_c, lambda_g=hp.lambda_g, center_alpha=hp.center_alpha, name="gitloss")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=hp.learning_rate))
    model(np.zeros((1, 28, 28, 1), np.float32))  # create the variables before a checkpoint is loaded into them
    return model


@dataclass
class Evaluation:
    scores: dict[str, float]  # Valid_Loss, Valid_Acc, inter_cls_dist, intra_cls_dist, valid_intra_cls_dist
    features: np.ndarray  # validation features, for the plot
    centers: np.ndarray  # metric centers (batch means over the training set)


def evaluate(
    model: GitLossNet, train: Split, val: Split, hp: GitLossHyperparameters, inter_so_far: list[float]
) -> Evaluation:
    """Valid_Acc/Valid_Loss on all validation images; centers and intra_cls_dist from the training features (as the
    original, so the figure compares with the seed's 0.21 / 0.1192); the same distance on validation features too."""
    _, train_features = model.predict(train.x, batch_size=256, verbose=0)
    logits, features = model.predict(val.x, batch_size=256, verbose=0)
    centers = M.batch_mean_centers(train_features, train.y, hp.batch_size)
    model_centers = keras.ops.convert_to_numpy(model.centers)
    inter_so_far.append(M.inter_class_distance(centers))
    scores = {
        "Valid_Loss": M.total_loss(logits, features, val.y, model_centers, hp.lambda_c, hp.lambda_g),
        "Valid_Acc": M.accuracy(logits, val.y),
        "inter_cls_dist": float(np.mean(inter_so_far)),  # running mean over all evaluations, as the original
        "intra_cls_dist": M.intra_class_distance(train_features, train.y, centers),
        "valid_intra_cls_dist": M.intra_class_distance(features, val.y, centers),
    }
    return Evaluation(scores, features, centers)


def train(hp: GitLossHyperparameters, env: JobEnvironment) -> dict[str, float]:
    set_random_seed(hp.seed)
    train_split, val = make_splits(env.data_dir, hp)
    print(
        f"data: {len(train_split.y)} train / {len(val.y)} validation images from {env.data_dir}; "
        f"backend {keras.backend.backend()}; {hp.steps} steps at batch {hp.batch_size}",
        flush=True,
    )
    model = build(hp)
    step, state = restore_latest(model, env.checkpoint_dir)
    inter_so_far: list[float] = list(state.get("inter_history", []))
    history: list[dict[str, float]] = list(state.get("history", []))
    sampler = BatchSampler(len(train_split.y), hp.batch_size, hp.seed)
    timer = StepTimer()
    recent: deque[float] = deque(maxlen=hp.log_every)
    # The last evaluated training batch: what the log line shows until the next evaluation.
    train_loss, train_acc = (history[-1]["Train_Loss"], history[-1]["Train_Acc"]) if history else (0.0, 0.0)
    report: dict[str, float] = {}
    events = summary_writer(env.output_dir, env.is_chief, TENSORBOARD_DIR)

    def checkpoint(at_step: int) -> None:
        if not env.is_chief:  # ranks share one output_url: one writer
            return
        extra = {"inter_history": inter_so_far, "history": history, "ms_per_step": timer.mean_ms()}
        save_checkpoint(env.checkpoint_dir, at_step, lambda folder: write_training_state(model, folder), extra)
        prune_checkpoints(env.checkpoint_dir, hp.keep_checkpoints)

    def evaluate_and_log(at_step: int) -> dict[str, float]:
        evaluation = evaluate(model, train_split, val, hp, inter_so_far)
        result = evaluation.scores
        line = (
            f"Step:\t{at_step}, Train_Loss:\t{train_loss:.4f}, Train_Acc:\t{train_acc:.4f}, "
            f"Valid_Loss:\t{result['Valid_Loss']:.4f}, Valid_Acc:\t{result['Valid_Acc']:.4f}, "
            f"inter_cls_dist:\t{result['inter_cls_dist']:.4f}, intra_cls_dist:\t{result['intra_cls_dist']:.4f}"
        )
        print(line, flush=True)
        if env.is_chief:
            env.output_dir.mkdir(parents=True, exist_ok=True)
            with (env.output_dir / LOG_FILE).open("a") as log:
                log.write(line + "\n")
            plot_embedding(
                env.output_dir / PLOTS_DIR / f"Cluster-Results-{at_step}.png", evaluation.features, val.y,
                evaluation.centers,
                title=f"GitLoss step {at_step}: validation features, Valid_Acc {result['Valid_Acc']:.3f}",
            )  # fmt: skip
        history.append({"step": at_step, "Train_Loss": train_loss, "Train_Acc": train_acc, **result})
        events.scalars(at_step, {"Train_Loss": train_loss, "Train_Acc": train_acc, **result})
        return result

    try:
        while step < hp.steps:
            timer.start()
            idx = sampler.indices(step)
            logs = model.train_on_batch(train_split.x[idx], train_split.y[idx], return_dict=True)
            timer.stop()
            step += 1
            report_progress(env, step, hp.steps, metrics=logs, samples_per_step=hp.batch_size)
            recent.append(float(logs["loss"]))
            if step % hp.log_every == 0:
                sec_per_step = timer.window_mean_s(hp.log_every)
                print(f"step {step}/{hp.steps} loss {np.mean(recent):.4f} sec/step {sec_per_step:.4f}", flush=True)
                events.scalars(step, {"loss": float(np.mean(recent)), "sec_per_step": sec_per_step})
            if step % hp.update_centers == 0 or step == hp.steps:
                # The original reports the last training batch; measured after its update, not inside the step.
                logits, _ = model.predict_on_batch(train_split.x[idx])
                train_loss, train_acc = recent[-1], M.accuracy(keras.ops.convert_to_numpy(logits), train_split.y[idx])
                report = evaluate_and_log(step)
            if step % hp.checkpoint_interval == 0 or step == hp.steps:
                checkpoint(step)
        if not report:  # resumed at the end: evaluate the restored model
            report = evaluate_and_log(step)
    finally:
        events.close()

    ms = timer.mean_ms() or state.get("ms_per_step") or 0.0
    metrics = {
        **report,
        "Train_Loss": float(train_loss),
        "Train_Acc": float(train_acc),
        "accuracy": report["Valid_Acc"],
        "loss": float(np.mean(recent)) if recent else float(report["Valid_Loss"]),
        "steps": float(step),
        "ms_per_step": float(ms),
        "samples_per_sec": hp.batch_size * 1000.0 / ms if ms else 0.0,
    }
    if env.is_chief:
        _write_outputs(env.output_dir, metrics, history)
    return metrics


def _write_outputs(output_dir: Path, metrics: dict[str, float], history: list[dict[str, Any]]) -> None:
    (output_dir / HISTORY_FILE).write_text(json.dumps({"evaluations": history, "final": metrics}, indent=2))
    plot_curves(
        output_dir / "curves.png",
        [(h["step"], h["Valid_Loss"]) for h in history],
        [(h["step"], h["Valid_Acc"]) for h in history],
        title="GitLoss: validation loss and accuracy",
        accuracy_label="Valid_Acc",
    )
