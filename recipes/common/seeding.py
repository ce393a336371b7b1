"""Keras calls that import TensorFlow merely because it is installed, made TensorFlow-free on other backends.

`keras.utils.set_random_seed` seeds TensorFlow whenever it is installed (for tf.data pipelines) and the .keras and
.h5 writers check for TensorFlow shapes and dtypes: both import TensorFlow (seconds, a few hundred MB) even under
KERAS_BACKEND=jax. The recipes feed Keras NumPy batches and hold no TensorFlow objects, so on JAX/torch those calls
run with Keras' lazy TensorFlow module marked unavailable, for the call only; everything else they do is unchanged.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import keras
from keras.src.utils import module_utils


@contextmanager
def tensorflow_unused() -> Iterator[None]:
    """Within: Keras treats TensorFlow as absent, unless it is the backend or already imported."""
    lazy_tf = module_utils.tensorflow
    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules or lazy_tf._available is not None:
        yield
        return
    lazy_tf._available = False
    try:
        yield
    finally:
        lazy_tf._available = None


def set_random_seed(seed: int) -> None:
    """keras.utils.set_random_seed (Python, NumPy, Keras' SeedGenerator, DataParallel's shared seed)."""
    with tensorflow_unused():
        keras.utils.set_random_seed(seed)
