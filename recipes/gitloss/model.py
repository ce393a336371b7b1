"""The original GitLoss network and its loss, in Keras 3 (any backend).

Network (orig. code, slim): conv3x3 SAME ReLU x2 (32) -> maxpool 2 -> x2 (64) -> maxpool 2 -> x2 (128) -> maxpool 2
VALID (28 -> 14 -> 7 -> 3) -> flatten 1152 -> FC 2 linear = the feature -> PReLU (alpha 0) -> FC 10 logits.
slim defaults: xavier (glorot_uniform) weights, zero biases.

Loss (orig. code): CE + lambda_c * Lc + lambda_g * Lg with
  Lc = mean over batch and dims of (f_i - c_{y_i})^2
  Lg = mean over pairs (i, j) and dims d of 1 / (1 + (f_{i,d} - c_{y_j,d})^2), the i == j entries zeroed
       before 1/(1+x^2), so they contribute 1
and the centers (non-trainable, [10, 2], init 0) moved EVERY step:
  c_{y_i} -= alpha * (c_{y_i} - f_i) / (1 + n_{y_i}), duplicates accumulating (tf.scatter_sub).

The center update lives in `compute_loss`: Keras 3's train step runs it inside the stateless scope and returns
the non-trainable variables it assigned (see Trainer.stateless_compute_loss), which is what makes a per-step
state update work under JAX's pure functions as well as under TensorFlow, with one code path.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

NUM_CLASSES = 10
FEATURE_DIM = 2
Tensor = Any  # a backend tensor: tf.Tensor, jax.Array, or a NumPy array


def git_loss_terms(features: Tensor, labels: Tensor, centers: Tensor) -> tuple[Tensor, Tensor]:
    """(Lc, Lg) for a batch, as the original code computes them."""
    own_centers = ops.take(centers, labels, axis=0)  # c_{y_i}: [B, 2]
    center_loss = ops.mean(ops.square(features - own_centers))
    pair_diff = ops.expand_dims(features, 1) - ops.expand_dims(own_centers, 0)  # f_i - c_{y_j}: [B, B, 2]
    off_diagonal = ops.expand_dims(1.0 - ops.eye(ops.shape(features)[0], dtype=features.dtype), -1)
    push_loss = ops.mean(1.0 / (1.0 + ops.square(pair_diff * off_diagonal)))
    return center_loss, push_loss


def updated_centers(features: Tensor, labels: Tensor, centers: Tensor, alpha: float) -> Tensor:
    """The centers after one step of tf.scatter_sub(centers, labels, alpha * (c_y - f) / (1 + n_y))."""
    one_hot = ops.one_hot(labels, NUM_CLASSES, dtype=features.dtype)  # [B, 10]
    counts = ops.sum(one_hot, axis=0)  # n per class in this batch
    own_centers = ops.take(centers, labels, axis=0)
    diff = (own_centers - features) / ops.expand_dims(1.0 + ops.take(counts, labels), -1)
    return centers - alpha * ops.matmul(ops.transpose(one_hot), diff)  # duplicate labels accumulate


class GitLossNet(keras.Model):
    """Outputs (logits, feature); trains with softmax CE + center loss + git loss, moving its centers each step."""

    def __init__(self, lambda_c: float = 1.0, lambda_g: float = 1.0, center_alpha: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lambda_c, self.lambda_g, self.center_alpha = lambda_c, lambda_g, center_alpha
        conv = {"kernel_size": 3, "padding": "same", "activation": "relu", "kernel_initializer": "glorot_uniform"}
        self.body = [
            keras.layers.Conv2D(32, name="conv1_1", **conv),
            keras.layers.Conv2D(32, name="conv1_2", **conv),
            keras.layers.MaxPooling2D(2, name="pool1"),
            keras.layers.Conv2D(64, name="conv2_1", **conv),
            keras.layers.Conv2D(64, name="conv2_2", **conv),
            keras.layers.MaxPooling2D(2, name="pool2"),
            keras.layers.Conv2D(128, name="conv3_1", **conv),
            keras.layers.Conv2D(128, name="conv3_2", **conv),
            keras.layers.MaxPooling2D(2, name="pool3"),  # VALID: 7 -> 3
            keras.layers.Flatten(name="flatten"),
        ]
        self.feature = keras.layers.Dense(FEATURE_DIM, kernel_initializer="glorot_uniform", name="feature")
        self.prelu = keras.layers.PReLU(alpha_initializer="zeros", name="prelu")
        self.classifier = keras.layers.Dense(NUM_CLASSES, kernel_initializer="glorot_uniform", name="logits")
        self.centers = self.add_weight(
            shape=(NUM_CLASSES, FEATURE_DIM), initializer="zeros", trainable=False, name="centers"
        )
        self.ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def call(self, images: Tensor, training: bool = False) -> tuple[Tensor, Tensor]:
        x = images
        for layer in self.body:
            x = layer(x)
        features = self.feature(x)
        return self.classifier(self.prelu(features)), features

    def compute_loss(
        self,
        x: Tensor = None,
        y: Tensor = None,
        y_pred: Tensor = None,
        sample_weight: Tensor = None,
        training: bool = True,
    ) -> Tensor:
        logits, features = y_pred
        labels = ops.cast(ops.reshape(y, (-1,)), "int32")
        centers = ops.convert_to_tensor(self.centers)  # the values before this step's update
        center_loss, push_loss = git_loss_terms(features, labels, centers)
        total = self.ce(labels, logits) + self.lambda_c * center_loss + self.lambda_g * push_loss
        if training:
            new = updated_centers(ops.stop_gradient(features), labels, centers, self.center_alpha)
            self.centers.assign(new)
        return total

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "lambda_c": self.lambda_c,
            "lambda_g": self.lambda_g,
            "center_alpha": self.center_alpha,
        }
