"""Classify digit images with an exported LeNet (a job's output dir, or one of its export files).

    python -m recipes.lenet.predict MODEL IMAGE [IMAGE ...]

MODEL: a SavedModel folder, a frozen graph `.pb`, a `.keras` file, or a job output folder holding them
(the SavedModel is preferred, then the frozen graph, then the .keras file, which needs no TensorFlow).
IMAGE: PNG/JPEG/..., converted to 8-bit grayscale and resized to 28x28. MNIST digits are light on dark; images
with a light background (the mean pixel above mid-grey) are inverted first, unless --no-invert.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from recipes.common.inference_export import SAVED_MODEL_DIR
from recipes.lenet.export import FROZEN_GRAPH_FILE, KERAS_FILE, OUTPUT_NODES
from recipes.lenet.model import IMAGE_PIXELS, INPUT_NAME

Predictor = Callable[[np.ndarray], np.ndarray]  # float32 [N, 784] in [0, 1] -> logits [N, 10]


def read_image(path: Path, invert: bool | None = None) -> np.ndarray:
    """float32 [784] in [0, 1]; `invert=None` decides from the background brightness."""
    from PIL import Image

    with Image.open(path) as image:
        gray = image.convert("L")
        if gray.size != (28, 28):
            gray = gray.resize((28, 28), Image.Resampling.BILINEAR)
        pixels = np.asarray(gray, dtype=np.float32) / 255.0
    if invert is None:
        invert = bool(pixels.mean() > 0.5)
    return (1.0 - pixels if invert else pixels).reshape(IMAGE_PIXELS)


def _saved_model_predictor(path: Path) -> Predictor:
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serve"]
    (output_key,) = serve.structured_outputs  # one output: the logits
    return lambda x: serve(**{INPUT_NAME: tf.constant(x, tf.float32)})[output_key].numpy()


def _frozen_graph_predictor(path: Path) -> Predictor:
    from recipes.common.frozen_graph import load_frozen_graph

    run = load_frozen_graph(path, INPUT_NAME, OUTPUT_NODES[0])
    return lambda x: run(np.asarray(x, np.float32))


def _keras_predictor(path: Path) -> Predictor:
    import keras

    model = keras.saving.load_model(path, compile=False)
    return lambda x: np.asarray(model.predict(x, verbose=0))


def _has_tensorflow() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):  # ValueError: a blocked module (sys.modules entry None)
        return False


def load_predictor(model_path: Path) -> Predictor:
    """A logits function for whichever export `model_path` is (or contains)."""
    if model_path.is_dir() and not (model_path / "saved_model.pb").is_file():
        candidates = [model_path / SAVED_MODEL_DIR, model_path / FROZEN_GRAPH_FILE] if _has_tensorflow() else []
        candidates.append(model_path / KERAS_FILE)
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            raise FileNotFoundError(
                f"no LeNet export in {model_path} (looked for {', '.join(c.name for c in candidates)})"
            )
        model_path = found
    if model_path.is_dir():
        return _saved_model_predictor(model_path)
    if model_path.suffix == ".pb":
        return _frozen_graph_predictor(model_path)
    if model_path.suffix == ".keras":
        return _keras_predictor(model_path)
    raise ValueError(f"{model_path}: not a SavedModel folder, .pb frozen graph or .keras file")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def classify(model_path: Path, images: Sequence[Path], invert: bool | None = None) -> list[tuple[int, float]]:
    """(digit, probability) per image."""
    batch = np.stack([read_image(p, invert) for p in images])
    probs = softmax(load_predictor(model_path)(batch))
    return [(int(row.argmax()), float(row.max())) for row in probs]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Classify digit images with an exported LeNet")
    parser.add_argument("model", type=Path, help="SavedModel folder, .pb, .keras, or a job output folder")
    parser.add_argument("images", type=Path, nargs="+")
    parser.add_argument("--no-invert", action="store_true", help="never invert light-background images")
    args = parser.parse_args(argv)
    results = classify(args.model, args.images, False if args.no_invert else None)
    for path, (digit, prob) in zip(args.images, results, strict=True):
        print(f"{path}: {digit} (p={prob:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
