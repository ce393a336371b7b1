"""SESEMI: one trunk, two heads, one loss = CE(supervised) + CE(self-supervised), weights 1 and 1.

Inputs [labelled images, self-supervised images]; outputs [class probabilities (10), transform probabilities
(6)]. Each head: global average pooling -> (dropout, supervised only) -> Dense softmax, glorot_uniform, L2.
The two streams pass through the shared trunk separately, so batch norm normalises each by its own statistics.
"""

from __future__ import annotations

import keras

from recipes.sesemi.augment import NUM_TRANSFORMS
from recipes.sesemi.networks import build_trunk

NUM_CLASSES = 10
SUPERVISED, SELF_SUPERVISED = "supervised", "self_supervised"


def build_sesemi(
    network: str, width: float = 1.0, weight_decay: float = 5e-4, head_dropout: float = 0.2, dtype: str = "float32"
) -> keras.Model:
    trunk = build_trunk(network, width, weight_decay, dtype)
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None

    def head(x: keras.KerasTensor, units: int, name: str, dropout: float) -> keras.KerasTensor:
        x = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool", dtype=dtype)(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}_dropout", dtype=dtype)(x)
        # Probabilities in float32 under mixed precision: the cross-entropy takes their log.
        return keras.layers.Dense(units, activation="softmax", kernel_regularizer=regularizer, name=name,
                                  dtype="float32")(x)  # fmt: skip

    labelled = keras.Input(shape=(32, 32, 3), name="labelled")
    transformed = keras.Input(shape=(32, 32, 3), name="transformed")
    supervised = head(trunk(labelled), NUM_CLASSES, SUPERVISED, head_dropout)
    self_supervised = head(trunk(transformed), NUM_TRANSFORMS, SELF_SUPERVISED, 0.0)
    return keras.Model([labelled, transformed], [supervised, self_supervised], name="sesemi")


def compile_sesemi(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> keras.Model:
    ce = keras.losses.SparseCategoricalCrossentropy()
    model.compile(optimizer=optimizer, loss=[ce, ce], loss_weights=[1.0, 1.0])
    return model


def classifier(model: keras.Model) -> keras.Model:
    """The supervised path alone: preprocessed images -> class probabilities (what is saved and evaluated)."""
    return keras.Model(model.inputs[0], model.outputs[0], name="sesemi_classifier")


def poly_decay(base: float, total_steps: int, power: float = 0.5) -> keras.optimizers.schedules.LearningRateSchedule:
    """lr = base * (1 - step / total)^0.5 per batch, as the original's callback (zero at the end)."""
    return keras.optimizers.schedules.PolynomialDecay(base, total_steps, end_learning_rate=0.0, power=power)
