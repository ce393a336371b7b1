"""The original SESEMI trunks (networks/convnet.py, nin.py, wrn.py), Keras 3, any backend; `width` scales channels.

Conventions of the original: conv kernels he_normal, L2 5e-4 on every kernel; batch norm momentum 0.99, eps 1e-3.
- convnet ("conv-large"): 3 x [conv3x3 128, BN, LeakyReLU 0.1] -> maxpool 2 -> 3 x [conv3x3 256 ...] -> maxpool 2
  -> conv3x3 512 valid -> conv1x1 256 -> conv1x1 128 (each BN + LeakyReLU 0.1) -> 6x6x128.
- nin: pad 2, conv5x5 192, 1x1 160, 1x1 96, maxpool 2; pad 2, conv5x5 192, 1x1 192, 1x1 192, maxpool 2;
  pad 1, conv3x3 192, 1x1 192, 1x1 192 (each BN + ReLU) -> 8x8x192.
- wrn: WRN-28-2 with max pooling: conv3x3 16, then three stages (32, 64, 128 wide) of 4 pre-activation blocks
  [BN, ReLU, conv3x3, BN, ReLU, conv3x3] without conv biases, a 1x1 projection shortcut in each stage's first block,
  and a 2x2 max pool after the first block of stages 2 and 3 -> 8x8x128.
"""

from __future__ import annotations

from typing import Any

import keras

BN = {"momentum": 0.99, "epsilon": 1e-3}


class _Builder:
    def __init__(self, width: float, weight_decay: float, dtype: str) -> None:
        self.width, self.dtype = width, dtype
        self.regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None

    def channels(self, n: int) -> int:
        return max(1, round(n * self.width))

    def conv(self, x: Any, n: int, size: int, padding: str = "same", bias: bool = True) -> Any:
        return keras.layers.Conv2D(
            self.channels(n), size, padding=padding, use_bias=bias, kernel_initializer="he_normal",
            kernel_regularizer=self.regularizer, dtype=self.dtype,
        )(x)  # fmt: skip

    def bn(self, x: Any) -> Any:
        return keras.layers.BatchNormalization(**BN, dtype=self.dtype)(x)

    def conv_bn_act(self, x: Any, n: int, size: int, act: str, padding: str = "same") -> Any:
        x = self.bn(self.conv(x, n, size, padding))
        if act == "lrelu":
            return keras.layers.LeakyReLU(negative_slope=0.1, dtype=self.dtype)(x)
        return keras.layers.ReLU(dtype=self.dtype)(x)

    def pool(self, x: Any) -> Any:
        return keras.layers.MaxPooling2D(2, dtype=self.dtype)(x)

    def pad(self, x: Any, p: int) -> Any:
        return keras.layers.ZeroPadding2D(p, dtype=self.dtype)(x)


def convnet(images: Any, b: _Builder) -> Any:
    x = images
    for n in (128, 256):
        for _ in range(3):
            x = b.conv_bn_act(x, n, 3, "lrelu")
        x = b.pool(x)
    x = b.conv_bn_act(x, 512, 3, "lrelu", padding="valid")
    x = b.conv_bn_act(x, 256, 1, "lrelu")
    return b.conv_bn_act(x, 128, 1, "lrelu")


def nin(images: Any, b: _Builder) -> Any:
    x = b.conv_bn_act(b.pad(images, 2), 192, 5, "relu", padding="valid")
    x = b.pool(b.conv_bn_act(b.conv_bn_act(x, 160, 1, "relu"), 96, 1, "relu"))
    x = b.conv_bn_act(b.pad(x, 2), 192, 5, "relu", padding="valid")
    x = b.pool(b.conv_bn_act(b.conv_bn_act(x, 192, 1, "relu"), 192, 1, "relu"))
    x = b.conv_bn_act(b.pad(x, 1), 192, 3, "relu", padding="valid")
    return b.conv_bn_act(b.conv_bn_act(x, 192, 1, "relu"), 192, 1, "relu")


def wrn(images: Any, b: _Builder, blocks: int = 4) -> Any:
    x = b.conv(images, 16, 3, bias=False)
    for stage, n in enumerate((32, 64, 128)):
        for block in range(blocks):
            pre = keras.layers.ReLU(dtype=b.dtype)(b.bn(x))
            shortcut = b.conv(pre, n, 1, bias=False) if block == 0 else x
            y = b.conv(pre, n, 3, bias=False)
            y = b.conv(keras.layers.ReLU(dtype=b.dtype)(b.bn(y)), n, 3, bias=False)
            x = keras.layers.Add(dtype=b.dtype)([shortcut, y])
            if block == 0 and stage > 0:
                x = b.pool(x)
    return keras.layers.ReLU(dtype=b.dtype)(b.bn(x))


TRUNKS = {"convnet": convnet, "nin": nin, "wrn": wrn}


def build_trunk(network: str, width: float = 1.0, weight_decay: float = 5e-4, dtype: str = "float32") -> keras.Model:
    """Images [32, 32, 3] -> feature maps; shared by both SESEMI branches."""
    images = keras.Input(shape=(32, 32, 3), name="images")
    features = TRUNKS[network](images, _Builder(width, weight_decay, dtype))
    return keras.Model(images, features, name=f"{network}_trunk")
