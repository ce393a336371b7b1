"""Inference exports of a trained LeNet, written into the job's output dir.

- `lenet.keras`: the Keras model (any backend), what `predict.py` loads when TensorFlow is absent.
- `saved_model/` (TensorFlow backend only): `model.export`, serving signature `serve(input_image[None,784])`.
- `lenet_frozen_graph.pb` (TensorFlow backend only): the seed's LeNet_frozen_graph.pb, variables folded into
  constants; input placeholder `input_image` float32 [None, 784] in [0, 1]; outputs `logits` [None, 10] and
  `classes` [None] int64. (The seed's output node was `Mean_1`, an accuracy op of its training graph; an
  inference graph has no labels, so it exports the prediction instead.)
TensorFlow is imported here only, and lazily: the training path must run on JAX machines without it.
"""

from __future__ import annotations

from pathlib import Path

import keras

from recipes.common.inference_export import save_inference_model
from recipes.lenet.model import IMAGE_PIXELS, INPUT_NAME

KERAS_FILE = "lenet.keras"
FROZEN_GRAPH_FILE = "lenet_frozen_graph.pb"
OUTPUT_NODES = ("logits", "classes")


def export_inference(model: keras.Model, export_dir: Path) -> dict[str, Path]:
    """Write every export this backend supports; returns {kind: path}."""
    written = save_inference_model(model, export_dir, KERAS_FILE)
    if keras.backend.backend() == "tensorflow":
        written["frozen_graph"] = export_frozen_graph(model, export_dir / FROZEN_GRAPH_FILE)
    return written


def export_frozen_graph(model: keras.Model, path: Path) -> Path:
    import tensorflow as tf

    from recipes.common.frozen_graph import write_frozen_graph

    def outputs(images: tf.Tensor) -> dict[str, tf.Tensor]:
        logits = tf.cast(model(images, training=False), tf.float32)
        return {OUTPUT_NODES[0]: logits, OUTPUT_NODES[1]: tf.argmax(logits, axis=-1)}

    return write_frozen_graph(path, outputs, INPUT_NAME, [None, IMAGE_PIXELS])
