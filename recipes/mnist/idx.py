"""Read and write MNIST's idx-ubyte files, plain or gzipped.

Format (yann.lecun.com/exdb/mnist): a big-endian int32 header, then uint8 data.
  images: [2051, N, rows, cols] + N*rows*cols bytes
  labels: [2049, N] + N bytes
Every check names the file and what was expected, because a job that dies on a bad data folder is usually
a wrong `data_url`, and the user needs to know which file to fix.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from launcher.errors import UserError

IMAGES_MAGIC = 2051  # 0x00000803: unsigned byte data, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned byte data, 1 dimension
IMAGE_SIZE = 28
NUM_CLASSES = 10

# The four files of the original distribution; each may also be present as <name>.gz.
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"


class DataError(UserError):
    """The MNIST folder is missing a file or holds one that is not valid idx-ubyte."""


class MnistSplits(NamedTuple):
    x_train: np.ndarray  # uint8 [N, 28, 28]
    y_train: np.ndarray  # uint8 [N]
    x_test: np.ndarray
    y_test: np.ndarray


def find_idx_file(data_dir: Path, name: str) -> Path:
    """`data_dir/name` or `data_dir/name.gz` (the plain file wins: it is what a user unpacked on purpose)."""
    for candidate in (data_dir / name, data_dir / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    present = sorted(p.name for p in data_dir.iterdir()) if data_dir.is_dir() else []
    listing = (", ".join(present[:10]) or "nothing") if data_dir.is_dir() else "the folder does not exist"
    raise DataError(
        f"MNIST file {name}[.gz] not found in {data_dir} (found: {listing}). "
        "Point data_url at a folder holding the four idx-ubyte files "
        f"({TRAIN_IMAGES}, {TRAIN_LABELS}, {TEST_IMAGES}, {TEST_LABELS}), gzipped or not."
    )


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read ({e}); the file is damaged or not gzip, download it again.") from e


def _parse(path: Path, magic: int, ndim: int) -> tuple[tuple[int, ...], memoryview]:
    """Check magic, header length and payload size; return the dims and the payload."""
    raw = _read_bytes(path)
    header_len = 4 * (1 + ndim)
    # Magic first: a labels file under an images name is "wrong file", not "truncated".
    if len(raw) >= 4 and (found := struct.unpack(">i", raw[:4])[0]) != magic:
        raise DataError(
            f"{path}: magic number {found}, expected {magic} "
            f"({'images' if magic == IMAGES_MAGIC else 'labels'} idx-ubyte); is this the right file?"
        )
    if len(raw) < header_len:
        raise DataError(f"{path}: {len(raw)} bytes, shorter than the {header_len}-byte idx header; file is truncated.")
    dims = list(struct.unpack(f">{ndim}i", raw[4:header_len]))
    if any(d < 0 for d in dims):
        raise DataError(f"{path}: negative dimension in header {dims}; the file is corrupt.")
    expected = int(np.prod(dims))
    payload = memoryview(raw)[header_len:]
    if len(payload) != expected:
        raise DataError(
            f"{path}: header {dims} promises {expected} data bytes but the file holds {len(payload)}; "
            "the file is truncated or corrupt."
        )
    return tuple(dims), payload


def read_images(path: Path) -> np.ndarray:
    """uint8 [N, rows, cols]."""
    dims, payload = _parse(path, IMAGES_MAGIC, 3)
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims).copy()


def read_labels(path: Path) -> np.ndarray:
    """uint8 [N]."""
    dims, payload = _parse(path, LABELS_MAGIC, 1)
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims).copy()


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        # mtime=0 and no file name in the header: the same arrays always give the same bytes (committed files).
        with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
            f.write(data)
    else:
        path.write_bytes(data)


def write_images(path: Path, images: np.ndarray) -> None:
    """Write uint8 [N, rows, cols]; gzipped when `path` ends in .gz."""
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 [N, rows, cols], got {images.dtype} {images.shape}")
    header = struct.pack(">4i", IMAGES_MAGIC, *images.shape)
    _write_bytes(path, header + np.ascontiguousarray(images).tobytes())


def write_labels(path: Path, labels: np.ndarray) -> None:
    """Write uint8 [N]; gzipped when `path` ends in .gz."""
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"labels must be uint8 [N], got {labels.dtype} {labels.shape}")
    _write_bytes(path, struct.pack(">2i", LABELS_MAGIC, labels.shape[0]) + labels.tobytes())


def _load_pair(data_dir: Path, images_name: str, labels_name: str) -> tuple[np.ndarray, np.ndarray]:
    images_path = find_idx_file(data_dir, images_name)
    labels_path = find_idx_file(data_dir, labels_name)
    images, labels = read_images(images_path), read_labels(labels_path)
    if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(
            f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, expected "
            f"{IMAGE_SIZE}x{IMAGE_SIZE} MNIST digits."
        )
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
            "they must come from the same split."
        )
    if labels.size and int(labels.max()) >= NUM_CLASSES:
        raise DataError(f"{labels_path}: label {int(labels.max())} found, expected digits 0-{NUM_CLASSES - 1}.")
    return images, labels


def load_mnist(data_dir: Path | str) -> MnistSplits:
    """The train and t10k splits from `data_dir`, as uint8 arrays."""
    data_dir = Path(data_dir)
    x_train, y_train = _load_pair(data_dir, TRAIN_IMAGES, TRAIN_LABELS)
    x_test, y_test = _load_pair(data_dir, TEST_IMAGES, TEST_LABELS)
    return MnistSplits(x_train, y_train, x_test, y_test)


def write_mnist(data_dir: Path | str, splits: MnistSplits, compress: bool = True) -> list[Path]:
    """Write the four idx files (with .gz when `compress`); returns their paths."""
    data_dir = Path(data_dir)
    suffix = ".gz" if compress else ""
    paths = [data_dir / f"{name}{suffix}" for name in (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)]
    write_images(paths[0], splits.x_train)
    write_labels(paths[1], splits.y_train)
    write_images(paths[2], splits.x_test)
    write_labels(paths[3], splits.y_test)
    return paths
