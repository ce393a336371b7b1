"""The original SESEMI preprocessing: a stratified labelled subset, global contrast normalisation, ZCA whitening.

- stratified_sample: `labels // classes` images per class, each class's indices shuffled by `RandomState(1)`;
  asking for every training image (50,000 / 73,257 in the original) keeps the whole set.
- GCN per image: x / 255, minus its mean, divided by its L2 norm / 55 (pylearn2's scale 55, min divisor 1e-8).
- ZCA fitted on the training images: W = U diag(1 / sqrt(S + 0.1)) U^T of their covariance, x -> (x - mean) W.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

GCN_SCALE = 55.0
ZCA_REGULARISATION = 0.1


def stratified_sample(labels: np.ndarray, count: int, num_classes: int = 10) -> np.ndarray:
    """Indices of `count // num_classes` images of each class (all images when count >= len(labels))."""
    if count >= len(labels):
        return np.arange(len(labels))
    per_class = count // num_classes
    rng = np.random.RandomState(1)
    chosen = []
    for c in range(num_classes):
        mine = np.flatnonzero(labels == c)
        if len(mine) < per_class:
            raise ValueError(f"labels={count} needs {per_class} images of class {c}, the training set has {len(mine)}")
        rng.shuffle(mine)
        chosen.append(mine[:per_class])
    return np.sort(np.concatenate(chosen))


def global_contrast_normalize(images: np.ndarray) -> np.ndarray:
    """uint8 [N, H, W, C] -> float32 [N, H*W*C], each row zero-mean with L2 norm 55."""
    x = images.reshape(len(images), -1).astype(np.float64) / 255.0
    x -= x.mean(axis=1, keepdims=True)
    norms = np.sqrt((x**2).sum(axis=1)) / GCN_SCALE
    norms[norms < 1e-8] = 1.0
    return (x / norms[:, None]).astype(np.float32)


class Whitener(NamedTuple):
    mean: np.ndarray  # [D]
    matrix: np.ndarray  # [D, D]

    def __call__(self, flat: np.ndarray) -> np.ndarray:
        return ((flat - self.mean) @ self.matrix).astype(np.float32)


def fit_zca(flat: np.ndarray) -> Whitener:
    mean = flat.mean(axis=0)
    centred = (flat - mean).astype(np.float64)
    sigma = centred.T @ centred / len(flat)
    eigenvalues, eigenvectors = np.linalg.eigh(sigma)
    matrix = (eigenvectors * (1.0 / np.sqrt(np.maximum(eigenvalues, 0.0) + ZCA_REGULARISATION))) @ eigenvectors.T
    return Whitener(mean.astype(np.float32), matrix.astype(np.float32))


def preprocess(images: np.ndarray, whitener: Whitener | None) -> np.ndarray:
    """uint8 [N, 32, 32, 3] -> float32 [N, 32, 32, 3]: GCN, then ZCA when a whitener is given."""
    flat = global_contrast_normalize(images)
    if whitener is not None:
        flat = whitener(flat)
    return flat.reshape(images.shape).astype(np.float32)
