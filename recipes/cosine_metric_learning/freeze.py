"""`--mode freeze`: the image -> feature model a deep_sort-style tracker loads.

Like the original's `./market1501.pb` / `./mars.pb`: input `images` uint8 [None, H, W, 3] in BGR order (what
cv2.imread gives), output `features` float32 [None, 128], unit rows. Written as `<dataset>.keras` on every
backend, and as the frozen graph `<dataset>.pb` on TensorFlow (deep_sort's ImageEncoder imports it and reads
`images:0` / `features:0`). TensorFlow is imported only for the .pb, lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from recipes.cosine_metric_learning.model import feature_extractor

INPUT_NAME, OUTPUT_NAME = "images", "features"


def write_inference_models(network: keras.Model, folder: Path, dataset: str) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    extractor = feature_extractor(network)
    written = {"keras": folder / f"{dataset}.keras"}
    extractor.save(written["keras"])
    if keras.backend.backend() == "tensorflow":
        from recipes.common.frozen_graph import write_frozen_graph

        height, width = extractor.input_shape[1:3]
        written["frozen_graph"] = write_frozen_graph(
            folder / f"{dataset}.pb", lambda images: {OUTPUT_NAME: extractor(images, training=False)},
            INPUT_NAME, [None, height, width, 3], "uint8",
        )  # fmt: skip
    return written


def load_encoder(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """A frozen model as a function uint8 BGR [N, H, W, 3] -> features [N, 128] (.keras any backend, .pb on TF)."""
    if path.suffix == ".pb":
        from recipes.common.frozen_graph import load_frozen_graph

        run = load_frozen_graph(path, INPUT_NAME, OUTPUT_NAME)
        return lambda bgr: run(np.asarray(bgr, np.uint8))
    model = keras.saving.load_model(path, compile=False)
    return lambda bgr: np.asarray(model.predict(np.asarray(bgr, np.uint8), verbose=0))
