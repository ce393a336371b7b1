"""The original DenseEvaluator: 8 views of every test image, softmax averaged, argmax, error rate.

Views: the image, a jittered copy (random {-2..2}-pixel shift, reflected borders), a noised copy (sigma 0.15), a
jittered-and-noised copy, and (with hflip) the horizontal mirror of each of those four.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recipes.sesemi.augment import add_noise, jitter

Predict = Callable[[np.ndarray], np.ndarray]  # preprocessed images -> class probabilities


def dense_views(images: np.ndarray, rng: np.random.Generator, hflip: bool = True) -> list[np.ndarray]:
    shifted = jitter(images, rng)
    views = [images, shifted, add_noise(images, rng), add_noise(shifted, rng)]
    if hflip:
        views += [v[:, :, ::-1] for v in views]
    return views


def dense_error(predict: Predict, images: np.ndarray, labels: np.ndarray, seed: int, hflip: bool = True) -> float:
    rng = np.random.default_rng([seed, 8])
    probabilities = np.mean([predict(np.ascontiguousarray(v)) for v in dense_views(images, rng, hflip)], axis=0)
    return float(np.mean(probabilities.argmax(axis=1) != labels))


def single_view_error(predict: Predict, images: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(predict(images).argmax(axis=1) != labels))
