"""The idx-ubyte reader/writer: round trips, the shipped subset, and errors that name the bad file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from launcher.errors import UserError
from recipes.mnist.idx import (
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    DataError,
    MnistSplits,
    load_mnist,
    read_images,
    read_labels,
    write_images,
    write_labels,
    write_mnist,
)


def random_splits(n_train: int = 32, n_test: int = 8, seed: int = 0) -> MnistSplits:
    rng = np.random.default_rng(seed)
    return MnistSplits(
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_train, dtype=np.uint8),
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_test, dtype=np.uint8),
    )


@pytest.mark.parametrize("compress", [True, False])
def test_round_trip(tmp_path: Path, compress: bool) -> None:
    splits = random_splits()
    paths = write_mnist(tmp_path, splits, compress=compress)
    assert all(p.name.endswith(".gz") == compress for p in paths)
    loaded = load_mnist(tmp_path)
    for written, read in zip(splits, loaded, strict=True):
        assert read.dtype == np.uint8
        np.testing.assert_array_equal(read, written)


def test_header_is_big_endian_idx(tmp_path: Path) -> None:
    images = np.arange(2 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(2, 28, 28)
    write_images(tmp_path / "img", images)
    raw = (tmp_path / "img").read_bytes()
    assert raw[:16] == bytes.fromhex("00000803 00000002 0000001c 0000001c")
    assert raw[16:] == images.tobytes()


def test_gzip_output_is_deterministic(tmp_path: Path) -> None:
    labels = np.arange(10, dtype=np.uint8)
    write_labels(tmp_path / "a.gz", labels)
    write_labels(tmp_path / "b.gz", labels)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_plain_file_preferred_over_gz(tmp_path: Path) -> None:
    write_mnist(tmp_path, random_splits(seed=1), compress=True)
    plain = random_splits(seed=2)
    write_mnist(tmp_path, plain, compress=False)
    np.testing.assert_array_equal(load_mnist(tmp_path).x_train, plain.x_train)


def test_shipped_subset(mnist_dir: Path) -> None:
    data = load_mnist(mnist_dir)
    assert data.x_train.shape == (4000, 28, 28) and data.x_test.shape == (1000, 28, 28)
    assert set(np.unique(data.y_train)) == set(range(10)) == set(np.unique(data.y_test))
    # Shuffled before splitting: the source CSV is sorted by label.
    assert len(set(data.y_train[:100].tolist())) == 10
    assert data.x_train.max() == 255 and data.x_train.min() == 0


def test_missing_file_names_it(tmp_path: Path) -> None:
    write_mnist(tmp_path, random_splits())
    (tmp_path / f"{TEST_LABELS}.gz").unlink()
    with pytest.raises(DataError, match=rf"{TEST_LABELS}\[\.gz\] not found in {tmp_path}") as info:
        load_mnist(tmp_path)
    assert isinstance(info.value, UserError) and info.value.exit_code == 2


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="folder does not exist"):
        load_mnist(tmp_path / "nowhere")


def test_wrong_magic(tmp_path: Path) -> None:
    write_labels(tmp_path / TRAIN_IMAGES, np.zeros(5, np.uint8))  # a labels file under the images name
    with pytest.raises(DataError, match=rf"{TRAIN_IMAGES}: magic number 2049, expected 2051"):
        read_images(tmp_path / TRAIN_IMAGES)


@pytest.mark.parametrize("compress", [True, False])
def test_truncated_payload(tmp_path: Path, compress: bool) -> None:
    path = tmp_path / (f"{TRAIN_LABELS}.gz" if compress else TRAIN_LABELS)
    write_labels(tmp_path / "full", np.arange(10, dtype=np.uint8))
    data = (tmp_path / "full").read_bytes()[:-3]
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    with pytest.raises(DataError, match=rf"{path.name}: header \[10\] promises 10 data bytes but the file holds 7"):
        read_labels(path)


def test_truncated_header(tmp_path: Path) -> None:
    (tmp_path / TEST_IMAGES).write_bytes(b"\x00\x00\x08\x03\x00")
    with pytest.raises(DataError, match=rf"{TEST_IMAGES}: 5 bytes, shorter than the 16-byte idx header"):
        read_images(tmp_path / TEST_IMAGES)


def test_cut_gzip_stream(tmp_path: Path) -> None:
    write_images(tmp_path / "full.gz", random_splits().x_train)
    cut = tmp_path / f"{TRAIN_IMAGES}.gz"
    cut.write_bytes((tmp_path / "full.gz").read_bytes()[:200])
    with pytest.raises(DataError, match=rf"{cut.name}: cannot read"):
        read_images(cut)


def test_not_gzip(tmp_path: Path) -> None:
    bad = tmp_path / f"{TRAIN_IMAGES}.gz"
    bad.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DataError, match="damaged or not gzip"):
        read_images(bad)


def test_count_mismatch(tmp_path: Path) -> None:
    splits = random_splits()
    write_mnist(tmp_path, splits._replace(y_train=splits.y_train[:-1]))
    with pytest.raises(DataError, match="holds 32 images but .* holds 31 labels"):
        load_mnist(tmp_path)


def test_wrong_image_size(tmp_path: Path) -> None:
    splits = random_splits()
    write_mnist(tmp_path, splits._replace(x_test=np.zeros((8, 32, 32), np.uint8)))
    with pytest.raises(DataError, match="images are 32x32, expected 28x28"):
        load_mnist(tmp_path)


def test_label_out_of_range(tmp_path: Path) -> None:
    splits = random_splits()
    write_mnist(tmp_path, splits._replace(y_test=np.full(8, 12, np.uint8)))
    with pytest.raises(DataError, match="label 12 found, expected digits 0-9"):
        load_mnist(tmp_path)
