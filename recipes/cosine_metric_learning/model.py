"""The original nets/deep_sort network (network_definition.py + residual_net.py) in Keras 3, any backend.

Input [H, W, 3] RGB in [0, 1] (128x64 in the seed). conv3x3 32 (BN, ELU) -> conv3x3 32 (BN, ELU) ->
maxpool 3x3/2 SAME -> residual 32 (first: no pre-activation) -> 32 -> 64/2 -> 64 -> 128/2 -> 128 -> flatten ->
dropout -> FC 128 (BN, ELU) -> BN "ball" -> L2-normalise = the 128-d feature. Residual link: [BN, ELU] (not for
the first) -> conv3x3 (BN, ELU) -> dropout -> conv3x3 (bias, no BN) + the block's input (a 1x1/2 projection
without bias where the width doubles). slim's conventions: a conv or FC followed by batch norm has no bias; batch
norm centres but does not scale (no gamma), epsilon 1e-3; weights truncated-normal 1e-3, biases 0;
l2_regularizer(s) = s * sum(w^2) / 2 = Keras L2(s / 2).

Classifier ("cosine softmax"): logits = softplus(scale) * f . (w_k / |w_k|), mean vectors [128, classes]
truncated-normal 1e-3, scale init 0 with slim l2 0.1.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from recipes.cosine_metric_learning.losses import magnet_loss, softmargin_triplet_loss

FEATURE_DIM = 128
LOSS_MODES = ("cosine-softmax", "magnet", "triplet")


@keras.saving.register_keras_serializable(package="cosine_metric_learning")
class L2Normalize(keras.layers.Layer):
    """x / sqrt(1e-8 + sum(x^2)) over the last axis, as the original (not tf.nn.l2_normalize's max-epsilon)."""

    def call(self, x: Any) -> Any:
        return x / ops.sqrt(1e-8 + ops.sum(ops.square(x), axis=-1, keepdims=True))


@keras.saving.register_keras_serializable(package="cosine_metric_learning")
class CosineSoftmax(keras.layers.Layer):
    """Logits = softplus(scale) * cos(feature, mean vector of each class)."""

    def __init__(self, num_classes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_classes = num_classes

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.mean_vectors = self.add_weight(
            name="mean_vectors", shape=(input_shape[-1], self.num_classes),
            initializer=keras.initializers.TruncatedNormal(stddev=1e-3),
        )  # fmt: skip
        self.scale = self.add_weight(name="scale", shape=(), initializer="zeros", regularizer=keras.regularizers.L2(0.05))

    def call(self, features: Any) -> Any:
        w = ops.cast(self.mean_vectors, features.dtype)
        w = w / ops.sqrt(ops.maximum(ops.sum(ops.square(w), axis=0, keepdims=True), 1e-12))
        return ops.softplus(ops.cast(self.scale, features.dtype)) * ops.matmul(features, w)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="cosine_metric_learning")
class BgrToUnitRgb(keras.layers.Layer):
    """uint8 BGR (what cv2.imread gives a deep_sort tracker) -> float RGB in [0, 1], the network's input."""

    def call(self, images: Any) -> Any:
        return ops.flip(ops.cast(images, self.compute_dtype), axis=-1) / 255.0


@keras.saving.register_keras_serializable(package="cosine_metric_learning")
class ReidNetwork(keras.Model):
    """The functional network, trained on the loss `loss_mode` names (the original adds only that one to
    tf.losses; the others are monitors) plus the L2 regularisation of the kernels and the scale."""

    def __init__(self, *args: Any, loss_mode: str = "cosine-softmax", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if loss_mode not in LOSS_MODES:
            raise ValueError(f"loss_mode must be one of {LOSS_MODES}, got {loss_mode!r}")
        self.loss_mode = loss_mode
        self.cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def compute_loss(
        self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None, training: bool = True
    ) -> Any:
        labels = ops.cast(ops.reshape(y, (-1,)), "int32")
        if self.loss_mode == "cosine-softmax":
            loss = self.cross_entropy(labels, y_pred["logits"])
        elif self.loss_mode == "magnet":
            loss = magnet_loss(labels, y_pred["features"])
        else:
            loss = softmargin_triplet_loss(labels, y_pred["features"])
        for regularization in self.losses:
            loss = loss + self._aggregate_additional_loss(regularization)
        return loss

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "loss_mode": self.loss_mode}


class _Layers:
    """Layer factories with the original's initialisers, regulariser and batch-norm settings."""

    def __init__(self, weight_decay: float, bn_momentum: float, dropout: float, dtype: str) -> None:
        self.common = {
            "kernel_initializer": keras.initializers.TruncatedNormal(stddev=1e-3),
            "kernel_regularizer": keras.regularizers.L2(weight_decay / 2) if weight_decay else None,
            "dtype": dtype,
        }
        self.bn_momentum, self.rate, self.dtype = bn_momentum, dropout, dtype

    def conv(self, x: Any, filters: int, name: str, stride: int = 1, size: int = 3, bias: bool = True) -> Any:
        return keras.layers.Conv2D(filters, size, stride, padding="same", use_bias=bias, name=name, **self.common)(x)

    def bn_elu(self, x: Any, name: str) -> Any:
        x = keras.layers.BatchNormalization(
            momentum=self.bn_momentum, epsilon=1e-3, scale=False, name=f"{name}_bn", dtype=self.dtype
        )(x)
        return keras.layers.Activation("elu", name=f"{name}_elu", dtype=self.dtype)(x)

    def dropout(self, x: Any, name: str) -> Any:
        return keras.layers.Dropout(self.rate, name=name, dtype=self.dtype)(x)

    def residual(self, incoming: Any, name: str, increase_dim: bool = False, is_first: bool = False) -> Any:
        width = incoming.shape[-1] * (2 if increase_dim else 1)
        x = incoming if is_first else self.bn_elu(incoming, name)
        x = self.bn_elu(self.conv(x, width, f"{name}_1", stride=2 if increase_dim else 1, bias=False), f"{name}_1")
        x = self.dropout(x, f"{name}_dropout")
        x = self.conv(x, width, f"{name}_2")
        shortcut = incoming
        if increase_dim:
            shortcut = self.conv(incoming, width, f"{name}_projection", stride=2, size=1, bias=False)
        return keras.layers.Add(name=f"{name}_add", dtype=self.dtype)([shortcut, x])


def build_network(
    image_shape: tuple[int, int],
    num_classes: int,
    weight_decay: float = 1e-8,
    bn_momentum: float = 0.999,
    dropout: float = 0.4,
    dtype: str = "float32",
    loss_mode: str = "cosine-softmax",
) -> ReidNetwork:
    """Model RGB [H, W, 3] in [0, 1] -> {'features': [N, 128] unit rows, 'logits': [N, num_classes]}."""
    L = _Layers(weight_decay, bn_momentum, dropout, dtype)
    images = keras.Input(shape=(*image_shape, 3), name="images")
    x = L.bn_elu(L.conv(images, 32, "conv1_1", bias=False), "conv1_1")
    x = L.bn_elu(L.conv(x, 32, "conv1_2", bias=False), "conv1_2")
    x = keras.layers.MaxPooling2D(3, 2, padding="same", name="pool1", dtype=dtype)(x)
    x = L.residual(x, "conv2_1", is_first=True)
    x = L.residual(x, "conv2_3")
    x = L.residual(x, "conv3_1", increase_dim=True)
    x = L.residual(x, "conv3_3")
    x = L.residual(x, "conv4_1", increase_dim=True)
    x = L.residual(x, "conv4_3")
    x = keras.layers.Flatten(name="flatten", dtype=dtype)(x)
    x = L.dropout(x, "fc1_dropout")
    x = keras.layers.Dense(FEATURE_DIM, use_bias=False, name="fc1", **L.common)(x)
    x = L.bn_elu(x, "fc1")
    # The unit feature and the classifier stay float32 under mixed precision: they feed cosines and a softmax.
    x = keras.layers.BatchNormalization(momentum=bn_momentum, epsilon=1e-3, scale=False, name="ball", dtype="float32")(x)
    features = L2Normalize(name="features", dtype="float32")(x)
    logits = CosineSoftmax(num_classes, name="logits", dtype="float32")(features)
    return ReidNetwork(images, {"features": features, "logits": logits}, loss_mode=loss_mode, name="cosine_metric_learning")


def feature_extractor(network: keras.Model) -> keras.Model:
    """The tracker's model: uint8 BGR images [N, H, W, 3] -> features [N, 128], inference only."""
    height, width = network.input_shape[1:3]
    images = keras.Input(shape=(height, width, 3), dtype="uint8", name="images")
    features = network(BgrToUnitRgb(name="bgr_to_rgb")(images), training=False)["features"]
    return keras.Model(images, keras.layers.Identity(name="features")(features), name="feature_extractor")
