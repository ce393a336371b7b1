"""`set_random_seed`: keras.utils.set_random_seed without importing TensorFlow on the JAX and torch backends.

Keras seeds TensorFlow whenever TensorFlow is installed, for tf.data pipelines, and so imports it (seconds, a few
hundred MB) even under KERAS_BACKEND=jax. The recipes feed Keras NumPy batches, never tf.data, so TensorFlow's seed
matters on the TensorFlow backend only; everything else Keras seeds (Python, NumPy, its global SeedGenerator and
the seed DataParallel shares between processes) is seeded as before, by Keras itself.
"""

from __future__ import annotations

import sys

import keras
from keras.src.utils import module_utils


def set_random_seed(seed: int) -> None:
    lazy_tf = module_utils.tensorflow
    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules or lazy_tf._available is not None:
        keras.utils.set_random_seed(seed)
        return
    lazy_tf._available = False  # for this call only: Keras reads it to decide whether to import TensorFlow
    try:
        keras.utils.set_random_seed(seed)
    finally:
        lazy_tf._available = None
