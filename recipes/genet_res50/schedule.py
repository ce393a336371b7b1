"""The seed's per-step learning rates (src/lr_generator.py) and its label-smoothed cross-entropy (src/crossentropy.py).

Pure numpy for the formulas (tests compare against them); `StepLearningRate` and `smoothed_sparse_ce` are the Keras
objects the trainer uses, evaluated on the optimizer's iteration counter so a resumed job continues the curve.
"""

from __future__ import annotations

import math

import keras
import numpy as np


def lr_at(
    step: np.ndarray | int, total_steps: int, lr_init: float, lr_end: float, decay: str
) -> np.ndarray:
    """lr of 0-based step i: linear `lr_init - (lr_init - lr_end) * i / T`; cosine (theta-minus config)
    `lr_init * ((T - i) / T * 0.5 * (1 + cos(2 pi 0.47 i / T)) + 1e-5)`; no warm-up (hold_epochs 0)."""
    i = np.minimum(np.asarray(step, dtype=np.float64), total_steps)
    t = float(total_steps)
    if decay == "linear":
        return lr_init - (lr_init - lr_end) * i / t
    if decay == "cosine":
        return lr_init * (
            (t - i) / t * 0.5 * (1.0 + np.cos(2.0 * math.pi * 0.47 * i / t)) + 1e-5
        )
    raise ValueError(f"unknown decay mode {decay!r}")


@keras.saving.register_keras_serializable(package="genet")
class StepLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(
        self, total_steps: int, lr_init: float, lr_end: float, decay: str
    ) -> None:
        self.total_steps, self.lr_init, self.lr_end, self.decay = (
            int(total_steps),
            lr_init,
            lr_end,
            decay,
        )

    def __call__(self, step):
        i = keras.ops.minimum(keras.ops.cast(step, "float32"), float(self.total_steps))
        t = float(self.total_steps)
        if self.decay == "linear":
            return self.lr_init - (self.lr_init - self.lr_end) * i / t
        cosine = 0.5 * (1.0 + keras.ops.cos(2.0 * math.pi * 0.47 * i / t))
        return self.lr_init * ((t - i) / t * cosine + 1e-5)

    def get_config(self) -> dict:
        return {
            "total_steps": self.total_steps,
            "lr_init": self.lr_init,
            "lr_end": self.lr_end,
            "decay": self.decay,
        }


def smoothed_targets(labels: np.ndarray, num_classes: int, factor: float) -> np.ndarray:
    """MindSpore CrossEntropySmooth: on-value 1 - factor, off-value factor / (num_classes - 1)."""
    off = factor / (num_classes - 1)
    targets = np.full((len(labels), num_classes), off, dtype=np.float64)
    targets[np.arange(len(labels)), labels] = 1.0 - factor
    return targets


def smoothed_ce_numpy(logits: np.ndarray, labels: np.ndarray, factor: float) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(
        np.mean(
            -(smoothed_targets(labels, logits.shape[1], factor) * log_p).sum(axis=1)
        )
    )


@keras.saving.register_keras_serializable(package="genet")
class SmoothedSparseCE(keras.losses.Loss):
    """Label-smoothed softmax cross-entropy on integer labels (mean over the batch), the seed's loss."""

    def __init__(
        self, factor: float = 0.1, name: str = "smoothed_sparse_ce", **kwargs
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.factor = factor

    def call(self, y_true, y_pred):
        num_classes = y_pred.shape[-1]
        off = self.factor / (num_classes - 1)
        onehot = keras.ops.one_hot(
            keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"), num_classes
        )
        targets = onehot * (1.0 - self.factor - off) + off
        log_p = keras.ops.log_softmax(keras.ops.cast(y_pred, "float32"), axis=-1)
        return -keras.ops.sum(targets * log_p, axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor}
