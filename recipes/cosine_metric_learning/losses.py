"""The original losses.py in keras.ops with static shapes, so they jit on JAX as they graph on TensorFlow.

- magnet loss (Rippel et al. 2016, single-cluster variant of the original): class means from the batch,
  sigma^2 = sum of squared distances to the own mean / (N - 1), loss_i = max(0, -log(eps + a_i / (eps + b_i)))
  with a_i = exp(-d_i,own / (2 sigma^2) - margin), b_i = sum over other classes of exp(-d_i,c / (2 sigma^2)),
  both shifted by the row maximum before exp. The original ranges over the batch's unique labels
  (tf.unique_with_counts); here every sample j stands for its class and is weighted by 1 / count(class), which
  gives the same sums with shapes fixed by the batch size.
- soft-margin triplet loss (Hermans et al. 2017, batch-hard): softplus(max positive distance - min negative
  distance) per anchor, distances sqrt(max(0, eps + squared distance)).
Both take (labels, features) as Keras losses take (y_true, y_pred).
"""

from __future__ import annotations

from typing import Any

from keras import ops

Tensor = Any


def squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """||a_i - b_j||^2 as the original _pdist: -2 a.b^T + |a|^2 + |b|^2."""
    sq_a = ops.sum(ops.square(a), axis=1)
    sq_b = ops.sum(ops.square(b), axis=1)
    return -2.0 * ops.matmul(a, ops.transpose(b)) + ops.expand_dims(sq_a, 1) + ops.expand_dims(sq_b, 0)


def _same_label(labels: Tensor) -> Tensor:
    labels = ops.reshape(labels, (-1,))
    return ops.cast(ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0)), "float32")


def magnet_loss(labels: Tensor, features: Tensor, margin: float = 1.0) -> Tensor:
    eps = 1e-4
    features = ops.cast(features, "float32")
    same = _same_label(labels)  # [N, N]: sample j is of i's class
    counts = ops.sum(same, axis=1)  # class size of each sample
    means = ops.matmul(same, features) / ops.expand_dims(counts, 1)  # row j: the mean of j's class
    distance = squared_distances(features, means)  # [N, N]: sample i to the class of j
    weight = ops.expand_dims(1.0 / counts, 0)  # each class once in every sum over j
    num_samples = ops.cast(ops.shape(features)[0], "float32")
    variance = ops.sum(same * weight * distance) / (num_samples - 1.0)
    linear = distance / (-2.0 * (variance + eps)) - same * margin
    loss_mat = ops.exp(linear - ops.max(linear, axis=1, keepdims=True))
    a = ops.sum(same * weight * loss_mat, axis=1)
    b = ops.sum((1.0 - same) * weight * loss_mat, axis=1)
    return ops.mean(ops.maximum(0.0, -ops.log(eps + a / (eps + b))))


def softmargin_triplet_loss(labels: Tensor, features: Tensor) -> Tensor:
    eps, almost_inf = 1e-5, 1e10
    features = ops.cast(features, "float32")
    distance = ops.sqrt(ops.maximum(0.0, eps + squared_distances(features, features)))
    same = _same_label(labels)
    positive = ops.max(same * distance, axis=1)
    negative = ops.min(same * almost_inf + distance, axis=1)
    return ops.mean(ops.softplus(positive - negative))
