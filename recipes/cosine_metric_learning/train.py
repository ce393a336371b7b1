"""Cosine metric learning job: `run(hp, env)` trains, evaluates, exports or freezes, by `hp.mode`.

train: identity batches (32 ids x 4 images in the seed), random horizontal flips, Adam; every log_every steps the
loss, the batch's classification accuracy and the monitored losses (cross-entropy, magnet, triplet) and the
learned scale, as the original's summaries; every eval_every steps the validation CMC (Precision@1/5/10/20 over
num_galleries random galleries of the held-out identities); at the end, with query/gallery data, the test
protocol's CMC rank-1/5/10 and mAP. eval / export / freeze start from the newest checkpoint of the job.
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
from recipes.common.seeding import set_random_seed
from recipes.common.tensorboard import summary_writer
from recipes.common.timing import StepTimer
from recipes.cosine_metric_learning.data import ReidData, TestProtocol, load_data
from recipes.cosine_metric_learning.hparams import CosineMetricHyperparameters
from recipes.cosine_metric_learning.images import ReidSet
from recipes.cosine_metric_learning.losses import magnet_loss, softmargin_triplet_loss
from recipes.cosine_metric_learning.model import ReidNetwork, build_network
from recipes.cosine_metric_learning.reid_metrics import (
    cosine_distance,
    rank_queries,
    validation_cmc,
)
from recipes.cosine_metric_learning.sampling import IdentitySampler, validation_mask

HISTORY_FILE = "history.json"
TENSORBOARD_DIR = "tensorboard"
EVAL_FILE = "eval.json"
EXPORT_DIR = "export"
FREEZE_DIR = "freeze"
EMBED_BATCH = 256


def build(hp: CosineMetricHyperparameters, num_classes: int) -> ReidNetwork:
    model = build_network(
        (hp.image_height, hp.image_width), num_classes, hp.weight_decay, hp.bn_momentum, hp.dropout,
        dtype=hp.precision, loss_mode=hp.loss_mode,
    )  # fmt: skip
    optimizer: keras.optimizers.Optimizer = keras.optimizers.Adam(learning_rate=hp.learning_rate)
    if hp.precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer)
    return model


def to_inputs(images: np.ndarray, flips: np.ndarray | None = None) -> np.ndarray:
    """uint8 RGB [N, H, W, 3] -> float32 in [0, 1], mirrored where `flips` is 1 (the training augmentation)."""
    x = images.astype(np.float32) / 255.0
    if flips is not None:
        x[flips.astype(bool)] = x[flips.astype(bool), :, ::-1]
    return x


def make_embedder(model: keras.Model, hp: CosineMetricHyperparameters) -> Any:
    def embed(items: ReidSet) -> np.ndarray:
        chunks = []
        for start in range(0, len(items), EMBED_BATCH):
            positions = np.arange(len(items))
            part = items.subset((positions >= start) & (positions < start + EMBED_BATCH))
            x = to_inputs(part.load(hp.image_height, hp.image_width))
            chunks.append(np.asarray(model.predict_on_batch(x)["features"], np.float32))
        return np.concatenate(chunks) if chunks else np.zeros((0, 128), np.float32)

    return embed


def test_scores(model: keras.Model, hp: CosineMetricHyperparameters, test: TestProtocol) -> dict[str, float]:
    query, gallery = test.features(make_embedder(model, hp))
    distances = cosine_distance(query, gallery)
    return rank_queries(distances, test.query_ids, test.query_cameras, test.gallery_ids, test.gallery_cameras)


def monitors(model: ReidNetwork, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The original's summaries on a batch: every loss mode's value, accuracy and the softplus'd scale."""
    out = model.predict_on_batch(x)
    logits, features = np.asarray(out["logits"], np.float32), np.asarray(out["features"], np.float32)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    scale = float(keras.ops.convert_to_numpy(model.get_layer("logits").scale))
    return {
        "cross_entropy_loss": float(-log_probs[np.arange(len(y)), y].mean()),
        "classification_accuracy": float(np.mean(logits.argmax(axis=1) == y)),
        "magnet_loss": float(keras.ops.convert_to_numpy(magnet_loss(y, features))),
        "triplet_loss": float(keras.ops.convert_to_numpy(softmargin_triplet_loss(y, features))),
        "scale": float(np.log1p(np.exp(scale))),
    }


def restore(model: keras.Model, env: JobEnvironment, required: bool) -> tuple[int, dict[str, Any]]:
    step, state = restore_latest(model, env.checkpoint_dir)
    if required and not state:
        raise UserError(
            f"no checkpoint in {env.checkpoint_dir}: eval, export and freeze start from a trained model; submit "
            "them with --train_url set to the training job's output URL"
        )
    return step, state


def run(hp: CosineMetricHyperparameters, env: JobEnvironment) -> dict[str, float]:
    set_random_seed(hp.seed)
    data = load_data(hp.dataset, env.data_dir, hp.max_label)
    print(
        f"data: {len(data.train)} training images of {len(np.unique(data.train.ids))} identities from "
        f"{env.data_dir} ({hp.dataset}); test protocol: {'yes' if data.test else 'none'}; "
        f"backend {keras.backend.backend()}; mode {hp.mode}",
        flush=True,
    )
    model = build(hp, data.num_classes)
    if hp.mode == "train":
        return train(hp, env, data, model)
    step, _ = restore(model, env, required=True)
    if hp.mode == "eval":
        return evaluate(hp, env, data, model, step)
    if hp.mode == "export":
        return export_features(hp, env, data, model, step)
    return freeze(hp, env, model, step)


def train(hp: CosineMetricHyperparameters, env: JobEnvironment, data: ReidData, model: ReidNetwork) -> dict[str, float]:
    if data.validation is not None:  # closed set: other images of the training identities
        train_set, val_set, share = data.train, data.validation, "closed set"
    else:
        held_out = validation_mask(data.train.ids, hp.validation_fraction)
        train_set, val_set = data.train.subset(~held_out), data.train.subset(held_out)
        share = f"{hp.validation_fraction:.0%} of identities"
    print(f"split: {len(train_set)} training / {len(val_set)} validation images ({share})", flush=True)
    x_all = train_set.load(hp.image_height, hp.image_width)
    x_val = val_set.load(hp.image_height, hp.image_width) if len(val_set) else None
    sampler = IdentitySampler(train_set.ids, hp.ids_per_batch, hp.images_per_id, hp.seed)
    step, state = restore(model, env, required=False)
    history: dict[str, list[Any]] = state.get("history", {"train": [], "validation": []})
    timer = StepTimer()
    recent: deque[float] = deque(maxlen=hp.log_every)
    events = summary_writer(env.output_dir, env.is_chief, TENSORBOARD_DIR)

    def checkpoint(at_step: int) -> None:
        if env.is_chief:
            extra = {"history": history, "ms_per_step": timer.mean_ms() or state.get("ms_per_step")}
            save_checkpoint(env.checkpoint_dir, at_step, lambda folder: write_training_state(model, folder), extra)
            prune_checkpoints(env.checkpoint_dir, hp.keep_checkpoints)

    try:
        while step < hp.steps:
            idx, flips = sampler.batch(step)
            x, y = to_inputs(x_all[idx], flips), train_set.ids[idx]
            timer.start()
            logs = model.train_on_batch(x, y, return_dict=True)
            timer.stop()
            step += 1
            report_progress(env, step, hp.steps, metrics=logs, samples_per_step=hp.batch_size)
            recent.append(float(logs["loss"]))
            if step % hp.log_every == 0 or step == hp.steps:
                row = {"step": step, "total_loss": float(np.mean(recent)), **monitors(model, x, y),
                       "sec_per_step": timer.window_mean_s(hp.log_every)}  # fmt: skip
                history["train"].append(row)
                events.scalars(step, {k: v for k, v in row.items() if k != "step"})
                print("step {step}: total_loss {total_loss:.4f} cross_entropy {cross_entropy_loss:.4f} "
                      "accuracy {classification_accuracy:.3f} magnet {magnet_loss:.4f} triplet {triplet_loss:.4f} "
                      "scale {scale:.2f} sec/step {sec_per_step:.4f}".format(**row), flush=True)  # fmt: skip
            if x_val is not None and (step % hp.eval_every == 0 or step == hp.steps):
                features = np.concatenate([
                    np.asarray(model.predict_on_batch(to_inputs(x_val[s : s + EMBED_BATCH]))["features"])
                    for s in range(0, len(x_val), EMBED_BATCH)
                ])  # fmt: skip
                cmc = validation_cmc(features, val_set.ids, val_set.cameras, hp.num_galleries)
                history["validation"].append({"step": step, **cmc})
                events.scalars(step, cmc)
                print(f"step {step}: validation " + ", ".join(f"{k} {v:.3f}" for k, v in cmc.items()), flush=True)
            if step % hp.checkpoint_every == 0 or step == hp.steps:
                checkpoint(step)
        metrics: dict[str, float] = {}
        if data.test is not None and hp.test_eval:
            metrics = test_scores(model, hp, data.test)
            events.scalars(step, {f"test/{k}": v for k, v in metrics.items()})
            print("test: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()), flush=True)
    finally:
        events.close()

    ms = timer.mean_ms() or state.get("ms_per_step") or 0.0
    last = history["train"][-1] if history["train"] else {}
    metrics.update({
        "loss": float(np.mean(recent)) if recent else float(last.get("total_loss", 0.0)),
        "accuracy": float(last.get("classification_accuracy", 0.0)),
        "steps": float(step),
        "ms_per_step": float(ms),
        "samples_per_sec": hp.batch_size * 1000.0 / ms if ms else 0.0,
    })  # fmt: skip
    if history["validation"]:
        metrics.update({f"val_{k}": v for k, v in history["validation"][-1].items() if k != "step"})
    if env.is_chief:
        _write_outputs(env.output_dir, metrics, history)
    return metrics


def _write_outputs(output_dir: Path, metrics: dict[str, float], history: dict[str, list[Any]]) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / HISTORY_FILE).write_text(json.dumps({**history, "final": metrics}, indent=2))
    validation = [(h["step"], h["Precision@1"]) for h in history["validation"]]
    plot_curves(
        output_dir / "curves.png",
        [(h["step"], h["total_loss"]) for h in history["train"]],
        validation or [(h["step"], h["classification_accuracy"]) for h in history["train"]],
        title="Cosine metric learning",
        accuracy_label="validation Precision@1" if validation else "batch accuracy",
    )


def _need_test(data: ReidData, mode: str) -> TestProtocol:
    if data.test is None:
        raise UserError(
            f"mode {mode} needs the test data: Market-1501's query/ and bounding_box_test/, or MARS's bbox_test/ "
            "with info/test_name.txt, info/tracks_test_info.mat and info/query_IDX.mat (dataset mnist has none)"
        )
    return data.test


def evaluate(
    hp: CosineMetricHyperparameters, env: JobEnvironment, data: ReidData, model: keras.Model, step: int
) -> dict[str, float]:
    scores = {**test_scores(model, hp, _need_test(data, "eval")), "steps": float(step)}
    print(f"eval at step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()), flush=True)
    if env.is_chief:
        env.output_dir.mkdir(parents=True, exist_ok=True)
        (env.output_dir / EVAL_FILE).write_text(json.dumps(scores, indent=2))
    return scores


def export_features(
    hp: CosineMetricHyperparameters, env: JobEnvironment, data: ReidData, model: keras.Model, step: int
) -> dict[str, float]:
    """feat_test.mat (+ feat_query.mat for Market-1501), key `features` [N, 128], rows in sorted-name order."""
    import scipy.io

    written = _need_test(data, "export").export(make_embedder(model, hp))
    folder = env.output_dir / EXPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for stem, features in written.items():
        scipy.io.savemat(folder / f"{stem}.mat", {"features": features.astype(np.float64)})
        print(f"exported {folder / f'{stem}.mat'}: features {features.shape}", flush=True)
    return {"steps": float(step), **{f"{stem}_rows": float(len(f)) for stem, f in written.items()}}


def freeze(hp: CosineMetricHyperparameters, env: JobEnvironment, model: keras.Model, step: int) -> dict[str, float]:
    from recipes.cosine_metric_learning.freeze import write_inference_models

    for kind, path in write_inference_models(model, env.output_dir / FREEZE_DIR, hp.dataset).items():
        print(f"froze {kind}: {path}", flush=True)
    return {"steps": float(step)}
