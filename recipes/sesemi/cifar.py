"""CIFAR-10 in the two layouts the seed names, unpacked or as downloaded (cifar-10-python.tar.gz).

- the python-pickle release the port's code reads: `data_batch_1` .. `data_batch_5`, `test_batch`, each a pickled
  dict with `data` (uint8 [N, 3072], channel-planar R, G, B rows of 32x32) and `labels` (list of int);
- class-named folders (the seed README's `cifar-10/{airplane,...,truck}/`): `train/<class>/*.png|jpg` and
  `test/<class>/*`, label = the class's index in CLASS_NAMES (the release's batches.meta order).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import NamedTuple

import numpy as np

from launcher.errors import UserError
from recipes.common.filetree import FileTree

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
IMAGE_SHAPE = (32, 32, 3)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


class DataError(UserError):
    """The CIFAR-10 folder has neither supported layout, or a file in it is damaged."""


class Cifar10(NamedTuple):
    x_train: np.ndarray  # uint8 [N, 32, 32, 3]
    y_train: np.ndarray  # int64 [N]
    x_test: np.ndarray
    y_test: np.ndarray


def _unpickle(tree: FileTree, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = pickle.loads(tree.read(name), encoding="latin1")  # the release was pickled by Python 2
        data = np.asarray(batch["data"], np.uint8)
        labels = np.asarray(batch["labels"], np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as error:
        raise DataError(f"{name}: not a CIFAR-10 python batch (a pickled dict with 'data' and 'labels'): {error}") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise DataError(f"{name}: 'data' is {data.shape}, expected [N, 3072] with one label per row")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _read_pickles(tree: FileTree, folder: str) -> Cifar10:
    prefix = f"{folder}/" if folder else ""
    missing = [b for b in (*TRAIN_BATCHES, TEST_BATCH) if f"{prefix}{b}" not in tree]
    if missing:
        raise DataError(f"{tree.root}/{prefix}: CIFAR-10 python batches incomplete, missing {', '.join(missing)}")
    train = [_unpickle(tree, f"{prefix}{b}") for b in TRAIN_BATCHES]
    x_test, y_test = _unpickle(tree, f"{prefix}{TEST_BATCH}")
    return Cifar10(np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]), x_test, y_test)


def _read_class_folders(tree: FileTree, folder: str) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    found = set(tree.folders_in(folder))
    if found != set(CLASS_NAMES):
        raise DataError(
            f"{tree.root}/{folder}: class folders {sorted(found)}; expected exactly the ten CIFAR-10 classes "
            f"{', '.join(CLASS_NAMES)}"
        )
    images, labels = [], []
    for label, name in enumerate(CLASS_NAMES):
        for file in tree.files_in(f"{folder}/{name}"):
            if not file.lower().endswith(IMAGE_SUFFIXES):
                continue
            try:
                with Image.open(io.BytesIO(tree.read(file))) as image:
                    pixels = np.asarray(image.convert("RGB"), np.uint8)
            except (UnidentifiedImageError, OSError) as error:
                raise DataError(f"{file}: not a readable image ({error})") from None
            if pixels.shape != IMAGE_SHAPE:
                raise DataError(f"{file}: image is {pixels.shape[1]}x{pixels.shape[0]}, CIFAR-10 images are 32x32")
            images.append(pixels)
            labels.append(label)
    if not images:
        raise DataError(f"{tree.root}/{folder}: the class folders hold no images ({', '.join(IMAGE_SUFFIXES)})")
    return np.stack(images), np.asarray(labels, np.int64)


def load_cifar10(data_dir: Path) -> Cifar10:
    tree = FileTree(data_dir)
    batches = sorted(n.rpartition("/")[0] for n in tree.names if n.rpartition("/")[2] == TRAIN_BATCHES[0])
    if batches:
        return _read_pickles(tree, min(batches, key=lambda f: (f.count("/"), f)))
    root = tree.find_folder_holding("train", "test")
    if root is not None and set(CLASS_NAMES) & set(tree.folders_in(f"{root}/train" if root else "train")):
        join = (lambda d: f"{root}/{d}") if root else (lambda d: d)
        return Cifar10(*_read_class_folders(tree, join("train")), *_read_class_folders(tree, join("test")))
    only_classes = tree.find_folder_holding(*CLASS_NAMES)
    hint = (
        f" Class folders found in {tree.root}/{only_classes} without a train/test split: move them under train/ "
        "and put the test images in test/<class>/." if only_classes is not None else ""
    )
    raise DataError(
        f"no CIFAR-10 in {data_dir} (found: {tree.describe()}). Expected the python batches (data_batch_1..5, "
        f"test_batch; or cifar-10-python.tar.gz) or class folders train/<class>/ and test/<class>/ for the classes "
        f"{', '.join(CLASS_NAMES)}.{hint}"
    )
