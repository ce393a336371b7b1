"""Write a trained Keras model for inference: `<name>.keras` on every backend, `saved_model/` on TensorFlow.

The .keras file holds a new, uncompiled Model over the same layers (inference needs no optimizer state, which is
most of a training checkpoint). The SavedModel (`model.export`, serving signature `serve`) needs TensorFlow's
graph tracing, so it is written on the TensorFlow backend only; nothing here imports TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import keras

SAVED_MODEL_DIR = "saved_model"


def save_inference_model(model: keras.Model, export_dir: Path, keras_file: str) -> dict[str, Path]:
    """Write every format this backend supports into export_dir; returns {kind: path}."""
    export_dir.mkdir(parents=True, exist_ok=True)
    written = {"keras": export_dir / keras_file}
    keras.Model(model.inputs, model.outputs, name=model.name).save(written["keras"])
    if keras.backend.backend() == "tensorflow":
        written["saved_model"] = export_dir / SAVED_MODEL_DIR
        model.export(str(written["saved_model"]), format="tf_saved_model", verbose=False)
    return written
