"""The original code's evaluation numbers, in NumPy on features the model has already produced.

- Valid_Loss: the total training loss (CE + lambda_c*Lc + lambda_g*Lg) on the whole validation set as one batch;
  the O(N^2) push term is summed in row chunks so 5,000 images need tens of MB, not gigabytes.
- metric centers: the mean over training batches of each batch's per-class feature means.
- intra_cls_dist: mean over classes of the mean Euclidean distance of a feature to its class center, on the
  training features as the original (the trainer also reports it on validation features: valid_intra_cls_dist).
- inter_cls_dist: mean distance over all pairs of centers (the trainer keeps the running mean over evaluations).
"""

from __future__ import annotations

import numpy as np

NUM_CLASSES = 10
_CHUNK = 512


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def loss_terms(features: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> tuple[float, float]:
    """(Lc, Lg) exactly as recipes.gitloss.model.git_loss_terms, for any batch size."""
    own = centers[labels].astype(np.float64)
    f = features.astype(np.float64)
    center_loss = float(np.mean((f - own) ** 2))
    total, n = 0.0, len(f)
    for start in range(0, n, _CHUNK):
        diff = f[start : start + _CHUNK, None, :] - own[None, :, :]  # f_i - c_{y_j}
        rows = np.arange(start, min(start + _CHUNK, n))
        diff[rows - start, rows, :] = 0.0  # i == j zeroed before 1/(1+x^2)
        total += float(np.sum(1.0 / (1.0 + diff**2)))
    return center_loss, total / (n * n * f.shape[1])


def total_loss(
    logits: np.ndarray, features: np.ndarray, labels: np.ndarray, centers: np.ndarray, lambda_c: float, lambda_g: float
) -> float:
    center_loss, push_loss = loss_terms(features, labels, centers)
    return cross_entropy(logits, labels) + lambda_c * center_loss + lambda_g * push_loss


def batch_mean_centers(features: np.ndarray, labels: np.ndarray, batch_size: int) -> np.ndarray:
    """Per class: the mean, over the batches where it occurs, of its mean feature in that batch."""
    sums = np.zeros((NUM_CLASSES, features.shape[1]))
    batches = np.zeros(NUM_CLASSES)
    for start in range(0, len(features), batch_size):
        f, y = features[start : start + batch_size], labels[start : start + batch_size]
        for c in np.unique(y):
            sums[c] += f[y == c].mean(axis=0)
            batches[c] += 1
    return sums / np.maximum(batches, 1)[:, None]


def intra_class_distance(features: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> float:
    distances = np.linalg.norm(features - centers[labels], axis=1)
    return float(np.mean([distances[labels == c].mean() for c in np.unique(labels)]))


def inter_class_distance(centers: np.ndarray) -> float:
    i, j = np.triu_indices(len(centers), k=1)
    return float(np.linalg.norm(centers[i] - centers[j], axis=1).mean())


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(logits.argmax(axis=1) == labels))
