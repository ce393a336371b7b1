"""Format-faithful CIFAR-10 made of real MNIST digits (digit d -> CIFAR class d), 32x32 RGB.

    python -m recipes.sesemi.synthetic OUT [--layout pickle|folders|tar]

Each 28x28 digit is padded to 32x32 and repeated over the three channels. Layouts: the python-pickle release
(`cifar-10-batches-py/data_batch_1..5`, `test_batch`, `batches.meta`), the same as `cifar-10-python.tar.gz`
(as downloaded), or class folders `train/<class>/<i>.png` and `test/<class>/<i>.png`. The demo data shipped in
recipes/sesemi/demo/ is `--layout tar` over the 4,000 / 1,000 shipped digits.
"""

from __future__ import annotations

import argparse
import io
import pickle
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from recipes.mnist.idx import load_mnist
from recipes.sesemi.cifar import CLASS_NAMES, TEST_BATCH, TRAIN_BATCHES

SHIPPED_MNIST = Path(__file__).resolve().parents[1] / "mnist" / "data"
BATCHES_FOLDER = "cifar-10-batches-py"


def digits_as_cifar(mnist_dir: Path = SHIPPED_MNIST) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): uint8 [N, 32, 32, 3] and int64 labels."""
    data = load_mnist(mnist_dir)

    def convert(images: np.ndarray) -> np.ndarray:
        padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))
        return np.repeat(padded[..., None], 3, axis=3)

    return convert(data.x_train), data.y_train.astype(np.int64), convert(data.x_test), data.y_test.astype(np.int64)


def _batch_bytes(images: np.ndarray, labels: np.ndarray, name: str) -> bytes:
    planar = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)  # R, G, B planes per row, as the release
    batch = {"batch_label": name, "labels": [int(v) for v in labels], "data": planar,
             "filenames": [f"digit_{i:05d}.png" for i in range(len(images))]}  # fmt: skip
    return pickle.dumps(batch, protocol=2)


def pickle_files(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> dict[str, bytes]:
    parts = np.array_split(np.arange(len(x_train)), len(TRAIN_BATCHES))
    files = {name: _batch_bytes(x_train[p], y_train[p], f"training batch {i + 1} of 5")
             for i, (name, p) in enumerate(zip(TRAIN_BATCHES, parts, strict=True))}  # fmt: skip
    files[TEST_BATCH] = _batch_bytes(x_test, y_test, "testing batch 1 of 1")
    files["batches.meta"] = pickle.dumps({"label_names": list(CLASS_NAMES), "num_vis": 3072}, protocol=2)
    return files


def write_pickles(out: Path, arrays: tuple[np.ndarray, ...]) -> Path:
    folder = out / BATCHES_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in pickle_files(*arrays).items():
        (folder / name).write_bytes(data)
    return folder


def write_tar(out: Path, arrays: tuple[np.ndarray, ...]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "cifar-10-python.tar.gz"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in pickle_files(*arrays).items():
            info = tarfile.TarInfo(f"{BATCHES_FOLDER}/{name}")
            info.size, info.mtime, info.mode = len(data), 0, 0o644  # fixed metadata: reproducible bytes
            tar.addfile(info, io.BytesIO(data))
    import gzip

    with path.open("wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return path


def write_folders(out: Path, arrays: tuple[np.ndarray, ...]) -> Path:
    from PIL import Image

    x_train, y_train, x_test, y_test = arrays
    for split, images, labels in (("train", x_train, y_train), ("test", x_test, y_test)):
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            path = out / split / CLASS_NAMES[int(label)] / f"{i:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(path)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a CIFAR-10-format data set made of MNIST digits")
    parser.add_argument("out", type=Path)
    parser.add_argument("--layout", choices=["pickle", "folders", "tar"], default="tar")
    args = parser.parse_args(argv)
    writer = {"pickle": write_pickles, "folders": write_folders, "tar": write_tar}[args.layout]
    print(writer(args.out, digits_as_cifar()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
