"""MNIST digits as identities, read straight from the idx files: the recipe's small real-data check.

`dataset: mnist` (data_dir = an MNIST folder, e.g. recipes/mnist/data): digits 0..7 are persons 1..8 (as in the
demo data, whose distractors are 8 and 9), every image seen by one camera, each digit resized to a square as wide
as the crop and centred on a 128x64 canvas (the seed's crop size; resized to the network input on load). Closed
set: the network trains on the train split's digits, and the validation CMC draws its probe/gallery pairs from
the test split's images of the same 8 identities (Market-1501 and MARS hold out identities instead).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recipes.cosine_metric_learning.images import ReidSet
from recipes.cosine_metric_learning.synthetic import digit_crop
from recipes.mnist.idx import load_mnist

MAX_LABEL = 8  # persons 1..8 = digits 0..7
CROP_HEIGHT, CROP_WIDTH = 128, 64
SEED = 0  # the canvases' sensor noise


def _identities(images: np.ndarray, labels: np.ndarray, split: str, rng: np.random.Generator) -> ReidSet:
    keep = np.flatnonzero(labels < MAX_LABEL)
    pixels = np.stack([digit_crop(images[i], 1, CROP_HEIGHT, CROP_WIDTH, rng, tint=False, jitter=False) for i in keep])
    ids = labels[keep].astype(np.int64) + 1
    names = [f"{split}/{i:05d}" for i in keep]  # the digit's row in the idx file
    return ReidSet(None, names, ids, np.ones(len(keep), np.int64), pixels=pixels)


def load_digit_identities(data_dir: Path) -> tuple[ReidSet, ReidSet]:
    """(training identities from the train split, closed-set validation images from the test split)."""
    rng = np.random.default_rng(SEED)
    mnist = load_mnist(data_dir)
    return _identities(mnist.x_train, mnist.y_train, "train", rng), _identities(mnist.x_test, mnist.y_test, "test", rng)
