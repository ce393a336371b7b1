"""ImageNet-style folders (`train/<wnid>/*.JPEG`, `val/<wnid>/*.JPEG`) without TensorFlow.

The seed's MindSpore `ImageFolderDataset`: label = index of the class folder in sorted order. Folders may also sit
inside an uploaded .zip/.tar (recipes.common.filetree). Decoding and augmentation run in a thread pool: Pillow
releases the GIL while it decodes, resamples and crops, so threads scale over cores without pickling images
between processes. Batches come out as uint8 NHWC (normalisation is the model's first layer).

- train: the seed's RandomCropDecodeResize(size, scale (0.08, 1), ratio (3/4, 4/3)) + horizontal flip 0.5 (the
  smallest area, 0.08, is `crop_min_area`: small images such as 32-px digits keep nothing at 8 %)
- eval:  Resize(shorter side 256/224 * size) + CenterCrop(size)

Every image's randomness is seeded by (seed, step, position in batch): a resumed job re-creates the same batches.
"""

from __future__ import annotations

import io
import math
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
from PIL import Image

from recipes.common.filetree import FileTree
from recipes.common.sampler import BatchSampler

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


@dataclass
class ImageFolder:
    tree: FileTree
    files: list[str]  # names inside the tree
    labels: np.ndarray  # int32
    classes: list[str]  # sorted class folder names; label = index

    def __len__(self) -> int:
        return len(self.files)

    def read(self, index: int) -> bytes:
        return self.tree.read(self.files[index])


def find_split(tree: FileTree, split: str) -> str:
    """The folder named `split` (train/val) anywhere in the tree, shallowest first (e.g. inside a zip's top folder)."""
    parent = tree.find_folder_holding(split)
    if parent is None:
        raise FileNotFoundError(
            f"no '{split}/' class folders under {tree.root} (found: {tree.describe()})"
        )
    return f"{parent}/{split}" if parent else split


def image_folder(
    tree: FileTree, split: str, classes: list[str] | None = None
) -> ImageFolder:
    folder = find_split(tree, split)
    classes = classes if classes is not None else tree.folders_in(folder)
    files, labels = [], []
    for label, name in enumerate(classes):
        images = [
            f
            for f in tree.files_in(f"{folder}/{name}")
            if f.lower().endswith(IMAGE_SUFFIXES)
        ]
        files += images
        labels += [label] * len(images)
    if not files:
        raise FileNotFoundError(f"no images in {tree.root}/{folder}/<class>/")
    return ImageFolder(tree, files, np.asarray(labels, dtype=np.int32), list(classes))


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    return image.convert("RGB") if image.mode != "RGB" else image


def random_resized_crop_box(
    width: int,
    height: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> tuple[int, int, int, int]:
    """(left, top, w, h): 10 tries at a random area and log-uniform aspect ratio, else a centre crop (as
    MindSpore/torchvision RandomResizedCrop)."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return (
                int(rng.integers(0, width - w + 1)),
                int(rng.integers(0, height - h + 1)),
                w,
                h,
            )
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def train_transform(
    data: bytes, size: int, rng: np.random.Generator, min_area: float = 0.08
) -> np.ndarray:
    image = decode(data)
    left, top, w, h = random_resized_crop_box(
        image.width, image.height, rng, scale=(min_area, 1.0)
    )
    image = image.resize(
        (size, size), Image.Resampling.BILINEAR, box=(left, top, left + w, top + h)
    )
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(image, dtype=np.uint8)


def eval_transform(data: bytes, size: int) -> np.ndarray:
    image = decode(data)
    short = round(size * 256 / 224)  # Resize 256 -> CenterCrop 224 at the seed's size
    scale = short / min(image.width, image.height)
    w, h = max(size, round(image.width * scale)), max(size, round(image.height * scale))
    image = image.resize((w, h), Image.Resampling.BILINEAR)
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)


def default_workers() -> int:
    return max(
        1,
        len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count() or 1,
    )


class BatchLoader:
    """Batches of (uint8 images [B, S, S, 3], int32 labels [B]) for a list of per-step index arrays, decoded by a
    thread pool with `prefetch` batches in flight ahead of the consumer."""

    def __init__(
        self,
        folder: ImageFolder,
        size: int,
        train: bool,
        seed: int = 0,
        workers: int | None = None,
        prefetch: int = 2,
        crop_min_area: float = 0.08,
    ) -> None:
        self.folder, self.size, self.train, self.seed = folder, size, train, seed
        self.crop_min_area = crop_min_area
        self.workers = workers or default_workers()
        self.prefetch = max(1, prefetch)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="genet-decode")

    def _image(self, index: int, step: int, position: int) -> np.ndarray:
        data = self.folder.read(int(index))
        if self.train:
            return train_transform(
                data,
                self.size,
                np.random.default_rng([self.seed, step, position]),
                self.crop_min_area,
            )
        return eval_transform(data, self.size)

    def _submit(
        self, step: int, indices: np.ndarray
    ) -> tuple[np.ndarray, list[Future]]:
        jobs = [
            self._pool.submit(self._image, idx, step, pos)
            for pos, idx in enumerate(indices)
        ]
        return self.folder.labels[indices], jobs

    def batches(
        self, steps: Iterator[int], indices_of: Callable[[int], np.ndarray]
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        pending: deque[tuple[np.ndarray, list[Future]]] = deque()
        steps = iter(steps)
        exhausted = False
        while True:
            while not exhausted and len(pending) < self.prefetch + 1:
                step = next(steps, None)
                if step is None:
                    exhausted = True
                    break
                pending.append(self._submit(step, indices_of(step)))
            if not pending:
                return
            labels, jobs = pending.popleft()
            yield np.stack([job.result() for job in jobs]), labels

    def train_batches(
        self, sampler: BatchSampler, start: int, stop: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return self.batches(iter(range(start, stop)), sampler.indices)

    def eval_batches(
        self, batch_size: int, drop_remainder: bool
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = len(self.folder)
        count = n // batch_size if drop_remainder else -(-n // batch_size)
        return self.batches(
            iter(range(count)),
            lambda b: np.arange(b * batch_size, min(n, (b + 1) * batch_size)),
        )

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_imagenet(data_dir: Path) -> tuple[ImageFolder, ImageFolder]:
    """(train, val) with val labelled by the train split's class list."""
    tree = FileTree(data_dir)
    train = image_folder(tree, "train")
    return train, image_folder(tree, "val", train.classes)


def open_val(data_dir: Path) -> ImageFolder:
    """The val split alone (the seed's eval.py): labelled by train's class list when there is a train/, else by
    val's own sorted class folders."""
    tree = FileTree(data_dir)
    try:
        classes = tree.folders_in(find_split(tree, "train"))
    except FileNotFoundError:
        classes = None
    return image_folder(tree, "val", classes)
