"""SESEMI's augmentation and self-supervised targets, in NumPy (the original used Keras' ImageDataGenerator).

Both streams: integer shifts in {-2..2} pixels along each axis with reflected borders, then Gaussian noise
sigma 0.15; the supervised stream also random horizontal flips. Self-supervised targets: the 6 transforms of an
image - rotations by 0, 90, 180, 270 degrees, a horizontal and a vertical flip - labelled 0..5.
"""

from __future__ import annotations

import numpy as np

MAX_SHIFT = 2
NOISE_STD = 0.15
NUM_TRANSFORMS = 6


def shift(images: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Each image [N, H, W, C] moved by (dy[i], dx[i]) pixels, the border filled by reflection."""
    n, h, w, _ = images.shape
    pad = MAX_SHIFT
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    rows = (np.arange(h)[None, :] + pad - dy[:, None])[:, :, None]  # [N, H, 1]
    cols = (np.arange(w)[None, :] + pad - dx[:, None])[:, None, :]  # [N, 1, W]
    return padded[np.arange(n)[:, None, None], rows, cols]


def jitter(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    dy, dx = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, (2, len(images)))
    return shift(images, dy, dx)


def add_noise(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (images + rng.normal(0.0, NOISE_STD, images.shape)).astype(np.float32)


def augment(images: np.ndarray, rng: np.random.Generator, hflip: bool) -> np.ndarray:
    out = jitter(images, rng)
    if hflip:
        flip = rng.random(len(out)) < 0.5
        out[flip] = out[flip, :, ::-1]
    return add_noise(out, rng)


def geometric_transforms(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[N, H, W, C] (square) -> ([N*6, H, W, C], [N*6] labels 0..5), the 6 versions of each image together."""
    versions = [np.rot90(images, k, axes=(1, 2)) for k in range(4)]
    versions += [images[:, :, ::-1], images[:, ::-1]]  # horizontal flip (left-right), vertical flip (up-down)
    stacked = np.stack(versions, axis=1)  # [N, 6, H, W, C]
    labels = np.tile(np.arange(NUM_TRANSFORMS), len(images))
    return stacked.reshape(-1, *images.shape[1:]).astype(np.float32), labels
