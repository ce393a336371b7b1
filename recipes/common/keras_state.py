"""Save and restore a compiled Keras model's training state (weights + optimizer slots) inside a checkpoint folder.

Keras 3 `save_weights` on a compiled model stores every tracked object, the optimizer's variables (iteration
count, Adam moments, loss scale) included, in one backend-neutral .weights.h5: a checkpoint written under
TensorFlow resumes under JAX and back. Loading only fills the optimizer when it is already built (otherwise
Keras skips it with a mere warning), so `restore_training_state` builds it first.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import keras

from entry.checkpoints import latest_checkpoint, read_state

WEIGHTS_FILE = "model.weights.h5"


def write_training_state(model: keras.Model, folder: Path) -> None:
    """The `write` callback for entry.checkpoints.save_checkpoint."""
    model.save_weights(folder / WEIGHTS_FILE)


def restore_training_state(model: keras.Model, folder: Path) -> None:
    """Load what `write_training_state` wrote into a model compiled the same way."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_weights(folder / WEIGHTS_FILE)
    # Keras only warns when saved and current variables don't line up; resuming from half a state is worse.
    skipped = [str(w.message) for w in caught if "Skipping variable loading" in str(w.message)]
    if skipped:
        raise ValueError(
            f"{folder / WEIGHTS_FILE} does not match this model/optimizer ({skipped[0].strip()}); "
            "it was written with different hyperparameters (e.g. precision). Use a fresh output_url to start over."
        )


def restore_latest(model: keras.Model, checkpoint_dir: Path) -> tuple[int, dict[str, Any]]:
    """Load the newest complete checkpoint into the model: (its global step, its state.json), or (0, {}) if none."""
    ckpt = latest_checkpoint(checkpoint_dir)
    if ckpt is None:
        return 0, {}
    state = read_state(ckpt)
    restore_training_state(model, ckpt)
    print(f"resumed from {ckpt} at step {state['step']}", flush=True)
    return int(state["step"]), state
