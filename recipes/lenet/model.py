"""The seed's LeNet-5, layer for layer, in Keras 3 (any backend).

Seed (LeNet.py, TF1): input flat 784 -> 28x28x1 -> conv5x5x6 SAME sigmoid -> maxpool 2/2 SAME
-> conv5x5x16 SAME sigmoid -> maxpool 2/2 SAME -> flatten 7*7*16=784 -> FC120 sigmoid -> FC84 sigmoid -> FC10 logits.
Its variables came from `tf.get_variable` with no initializer, i.e. glorot_uniform for biases too, so the
biases here are glorot_uniform rather than Keras' zeros.
"""

from __future__ import annotations

import keras
import numpy as np

INPUT_NAME = "input_image"  # the frozen graph's input name in the seed (LeNet_frozen_graph.py)
IMAGE_PIXELS = 784
NUM_CLASSES = 10


def build_lenet(dtype: str = "float32") -> keras.Model:
    """Logits model; `dtype` is a Keras dtype policy name (e.g. mixed_float16). Call after seeding."""
    init = {"kernel_initializer": "glorot_uniform", "bias_initializer": "glorot_uniform", "dtype": dtype}
    inputs = keras.Input(shape=(IMAGE_PIXELS,), name=INPUT_NAME)
    x = keras.layers.Reshape((28, 28, 1), name="reshape")(inputs)
    x = keras.layers.Conv2D(6, 5, padding="same", activation="sigmoid", name="conv1", **init)(x)
    x = keras.layers.MaxPooling2D(2, 2, padding="same", name="pool1", dtype=dtype)(x)
    x = keras.layers.Conv2D(16, 5, padding="same", activation="sigmoid", name="conv2", **init)(x)
    x = keras.layers.MaxPooling2D(2, 2, padding="same", name="pool2", dtype=dtype)(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(120, activation="sigmoid", name="fc1", **init)(x)
    x = keras.layers.Dense(84, activation="sigmoid", name="fc2", **init)(x)
    # Logits stay float32 under mixed precision so softmax cross-entropy is computed at full precision.
    logits = keras.layers.Dense(NUM_CLASSES, name="fc3", **{**init, "dtype": "float32"})(x)
    return keras.Model(inputs, logits, name="lenet")


def to_inputs(images_uint8: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] -> float32 [N, 784] in [0, 1], as the TF MNIST reader fed the seed."""
    return np.asarray(images_uint8, dtype=np.float32).reshape(-1, IMAGE_PIXELS) / 255.0
