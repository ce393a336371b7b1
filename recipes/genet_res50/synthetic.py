"""ImageNet-format folders of real-looking JPEGs, made from the shipped MNIST digits (no network, no sklearn).

    python -m recipes.genet_res50.synthetic OUT [--classes 10] [--train 26] [--val 8] [--size 80] [--zip]

Class k (folder `n%08d` % k, as ImageNet wnids) = digit k, drawn in a class colour over a procedural texture
(random sinusoid gratings + noise, a different texture per image) at a random position and scale, saved as
`train/n0000000k/n0000000k_<i>.JPEG` and `val/...`; image sides vary around `size` so resize paths are exercised.
The recipe's demo data (`demo/imagenet-demo.zip`) is `--zip` with the defaults; same arguments, same bytes.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from recipes.mnist.idx import load_mnist

SHIPPED_MNIST = Path(__file__).resolve().parents[1] / "mnist" / "data"


def wnid(label: int) -> str:
    return f"n{label:08d}"


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    out = np.zeros((height, width, 3), np.float32)
    for _ in range(3):
        angle, freq = rng.uniform(0, np.pi), rng.uniform(0.03, 0.25)
        wave = np.sin(
            freq * (x * np.cos(angle) + y * np.sin(angle)) + rng.uniform(0, 2 * np.pi)
        )
        out += wave[..., None] * rng.uniform(10, 40, size=3)
    out += rng.normal(0, 8, size=out.shape) + rng.uniform(60, 160, size=3)
    return out


def render(
    digit: np.ndarray, label: int, num_classes: int, rng: np.random.Generator, size: int
) -> Image.Image:
    height, width = (
        int(v) for v in rng.integers(int(size * 0.8), int(size * 1.25) + 1, size=2)
    )
    canvas = _texture(rng, height, width)
    side = int(
        rng.integers(int(0.5 * min(height, width)), int(0.9 * min(height, width)) + 1)
    )
    mask = (
        np.asarray(
            Image.fromarray(digit).resize((side, side), Image.Resampling.BILINEAR),
            np.float32,
        )[..., None]
        / 255
    )
    hue = label / num_classes
    colour = 255 * np.array(
        [0.5 + 0.5 * np.cos(2 * np.pi * (hue + k / 3)) for k in range(3)], np.float32
    )
    top, left = (
        int(rng.integers(0, height - side + 1)),
        int(rng.integers(0, width - side + 1)),
    )
    patch = canvas[top : top + side, left : left + side]
    canvas[top : top + side, left : left + side] = patch * (1 - mask) + colour * mask
    return Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))


def jpeg_files(
    classes: int = 10,
    train: int = 26,
    val: int = 8,
    size: int = 80,
    seed: int = 0,
    mnist_dir: Path = SHIPPED_MNIST,
) -> dict[str, bytes]:
    """{relative path: JPEG bytes} for train/ and val/ (train digits from MNIST train, val digits from MNIST test)."""
    if not 2 <= classes <= 10:
        raise ValueError("classes must be 2..10 (one per digit)")
    data = load_mnist(mnist_dir)
    rng = np.random.default_rng(seed)
    files: dict[str, bytes] = {}
    for split, count, images, labels in (
        ("train", train, data.x_train, data.y_train),
        ("val", val, data.x_test, data.y_test),
    ):
        for label in range(classes):
            pool = np.flatnonzero(labels == label)[:count]
            for i, index in enumerate(pool):
                buffer = io.BytesIO()
                render(images[index], label, classes, rng, size).save(
                    buffer, "JPEG", quality=85
                )
                files[f"{split}/{wnid(label)}/{wnid(label)}_{i}.JPEG"] = (
                    buffer.getvalue()
                )
    return files


def digit_files(
    train: int = 400, val: int = 100, size: int = 32, mnist_dir: Path = SHIPPED_MNIST
) -> dict[str, bytes]:
    """Plain MNIST digits as an ImageNet-style folder: class k = digit k, each 28x28 digit centred on a black
    size x size canvas, grey RGB JPEG; train from MNIST train, val from t10k (RECIPES.md's small real-data check)."""
    data = load_mnist(mnist_dir)
    pad = (size - 28) // 2
    files: dict[str, bytes] = {}
    for split, count, images, labels in (
        ("train", train, data.x_train, data.y_train),
        ("val", val, data.x_test, data.y_test),
    ):
        for label in range(10):
            for i, index in enumerate(np.flatnonzero(labels == label)[:count]):
                canvas = np.zeros((size, size), np.uint8)
                canvas[pad : pad + 28, pad : pad + 28] = images[index]
                buffer = io.BytesIO()
                Image.fromarray(canvas).convert("RGB").save(buffer, "JPEG", quality=95)
                files[f"{split}/{wnid(label)}/{wnid(label)}_{i}.JPEG"] = buffer.getvalue()
    return files


def write_files(out: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    return out


def write_imagenet(
    out: Path, as_zip: bool = False, name: str = "imagenet-demo.zip", **kwargs
) -> Path:
    files = jpeg_files(**kwargs)
    out.mkdir(parents=True, exist_ok=True)
    if as_zip:
        target = out / name
        with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
            for rel, data in sorted(files.items()):
                info = zipfile.ZipInfo(
                    rel, date_time=(2021, 4, 26, 0, 0, 0)
                )  # fixed: same bytes every run
                archive.writestr(info, data)
        return target
    return write_files(out, files)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument(
        "--train", type=int, default=26, help="images per class in train/"
    )
    parser.add_argument("--val", type=int, default=8, help="images per class in val/")
    parser.add_argument(
        "--size", type=int, default=80, help="typical image side (varies +-20%%)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--zip", action="store_true", help="one imagenet-demo.zip instead of folders"
    )
    args = parser.parse_args(argv)
    path = write_imagenet(
        args.out,
        args.zip,
        classes=args.classes,
        train=args.train,
        val=args.val,
        size=args.size,
        seed=args.seed,
    )
    print(path)


if __name__ == "__main__":
    main()
