"""Format-faithful re-ID data sets made of real MNIST digits: a digit class is a "person", a camera is a colour
scheme (background, ink) plus a placement jitter, so matching across cameras is the task, as in re-ID.

    python -m recipes.cosine_metric_learning.synthetic market1501 OUT [--zip]   # Market-1501-v15.09.15/...
    python -m recipes.cosine_metric_learning.synthetic mars OUT [--zip]         # bbox_train/, bbox_test/, info/

Market-1501: persons 0001..0008 are digits 0..7 (training images from the MNIST train split; query and gallery
from the held-out split), distractors 0000 are digits 8 and 9, and a few `-1` junk crops are noise. MARS: the
same persons as tracklets of a few jittered frames of one digit, with the evaluation kit's info/ files.
The shipped demo data sets (recipes/cosine_metric_learning/demo/) were made by this module.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from recipes.mnist.idx import load_mnist

SHIPPED_MNIST = Path(__file__).resolve().parents[1] / "mnist" / "data"
MARKET_ROOT = "Market-1501-v15.09.15"
# (background, ink) RGB per camera: each camera tints the scene its own way (light ink on a dark ground throughout,
# as a person stays lighter or darker than the street whatever the camera).
CAMERA_COLOURS = [((20, 20, 20), (235, 235, 235)), ((40, 30, 60), (250, 230, 170)), ((25, 50, 35), (210, 240, 250)),
                  ((60, 30, 30), (225, 250, 210)), ((50, 50, 50), (250, 200, 200)), ((15, 35, 60), (240, 240, 190))]  # fmt: skip


def digit_crop(
    digit: np.ndarray,
    camera: int,
    height: int,
    width: int,
    rng: np.random.Generator,
    tint: bool = True,
    jitter: bool = True,
) -> np.ndarray:
    """A 28x28 uint8 digit as an RGB person crop seen by `camera` (1-based): the digit resized to width x width on
    a height x width canvas, moved up or down by up to height/8 (`jitter=False`: centred); `tint=False`: every
    camera alike."""
    from PIL import Image

    colours = CAMERA_COLOURS[(camera - 1) % len(CAMERA_COLOURS) if tint else 0]
    background, ink = (np.asarray(c, np.float32) for c in colours)
    side = width
    glyph = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BILINEAR), np.float32)[..., None]
    glyph = glyph / 255.0
    canvas = np.broadcast_to(background, (height, width, 3)).copy()
    shift = int(rng.integers(-height // 8, height // 8 + 1)) if jitter else 0
    top = int(np.clip((height - side) // 2 + shift, 0, height - side))
    canvas[top : top + side] = canvas[top : top + side] * (1 - glyph) + ink * glyph
    canvas += rng.normal(0, 2, canvas.shape)  # a little sensor noise
    return np.clip(canvas, 0, 255).astype(np.uint8)


def jpeg(image: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(image).save(out, format="JPEG", quality=85)
    return out.getvalue()


class _Writer:
    """Files into a folder, or into one .zip (what the data sets ship as)."""

    def __init__(self, out: Path, as_zip: str | None) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.zip = zipfile.ZipFile(out / as_zip, "w", zipfile.ZIP_STORED) if as_zip else None

    def write(self, name: str, data: bytes) -> None:
        if self.zip is not None:
            info = zipfile.ZipInfo(name, date_time=(2015, 9, 15, 0, 0, 0))  # fixed: same bytes every time
            self.zip.writestr(info, data)
        else:
            (self.out / name).parent.mkdir(parents=True, exist_ok=True)
            (self.out / name).write_bytes(data)

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def _pick(labels: np.ndarray, digit: int, count: int, used: set[int], rng: np.random.Generator) -> list[int]:
    pool = [i for i in np.flatnonzero(labels == digit) if i not in used]
    chosen = [int(i) for i in rng.choice(pool, count, replace=False)]
    used.update(chosen)
    return chosen


def _mat_bytes(**arrays: np.ndarray) -> bytes:
    import scipy.io

    out = io.BytesIO()
    scipy.io.savemat(out, arrays)
    # The 116-byte text header carries a creation time: fix it so the shipped files are reproducible.
    header = b"MATLAB 5.0 MAT-file, written by recipes.cosine_metric_learning.synthetic".ljust(116)
    return header + out.getvalue()[116:]


def write_market1501(
    out: Path,
    persons: int = 8,
    cameras: int = 3,
    train_per_person: int = 40,
    query_per_camera: int = 2,
    gallery_per_camera: int = 5,
    height: int = 128,
    width: int = 64,
    as_zip: bool = False,
    tint: bool = True,
    seed: int = 0,
    mnist_dir: Path = SHIPPED_MNIST,
) -> Path:
    """Write Market-1501-v15.09.15/{bounding_box_train,bounding_box_test,query,gt_query}; returns `out`."""
    if not 1 <= persons <= 8:
        raise ValueError("persons are digits 0..7 (8 and 9 are the distractors): 1 to 8 of them")
    rng = np.random.default_rng(seed)
    data = load_mnist(mnist_dir)
    writer = _Writer(out, f"{MARKET_ROOT}.zip" if as_zip else None)
    frame = iter(range(1, 10**6))
    name = lambda pid, cam: f"{pid}_c{cam}s1_{next(frame) * 25:06d}_00.jpg"
    used_train: set[int] = set()
    for digit in range(persons):
        for k, i in enumerate(_pick(data.y_train, digit, train_per_person, used_train, rng)):
            cam = 1 + k % cameras
            writer.write(f"{MARKET_ROOT}/bounding_box_train/{name(f'{digit + 1:04d}', cam)}",
                         jpeg(digit_crop(data.x_train[i], cam, height, width, rng, tint)))  # fmt: skip
    used_test: set[int] = set()
    gallery: list[tuple[str, int, int]] = []  # (file name, person, camera)
    queries: list[tuple[str, int, int]] = []
    for digit in range(persons):
        for cam in range(1, cameras + 1):
            for split, count in ((queries, query_per_camera), (gallery, gallery_per_camera)):
                for i in _pick(data.y_test, digit, count, used_test, rng):
                    file = name(f"{digit + 1:04d}", cam)
                    folder = "query" if split is queries else "bounding_box_test"
                    writer.write(f"{MARKET_ROOT}/{folder}/{file}", jpeg(digit_crop(data.x_test[i], cam, height, width, rng, tint)))
                    split.append((file, digit + 1, cam))
    for k, i in enumerate(_pick(data.y_test, 8, 3, used_test, rng) + _pick(data.y_test, 9, 3, used_test, rng)):
        file = name("0000", 1 + k % cameras)  # distractors: other "people", never a true match
        writer.write(f"{MARKET_ROOT}/bounding_box_test/{file}", jpeg(digit_crop(data.x_test[i], 1 + k % cameras, height, width, rng, tint)))
        gallery.append((file, 0, 1 + k % cameras))
    for k in range(4):
        file = name("-1", 1 + k % cameras)  # junk detections: background noise
        noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        writer.write(f"{MARKET_ROOT}/bounding_box_test/{file}", jpeg(noise))
        gallery.append((file, -1, 1 + k % cameras))
    # gt_query/<query>_junk.mat: 1-based rows of the sorted gallery that are junk for that query (the kit's format).
    order = sorted(gallery)
    for file, pid, cam in queries:
        junk = [r + 1 for r, (_, p, c) in enumerate(order) if p == -1 or (p == pid and c == cam)]
        stem = file.removesuffix(".jpg")
        writer.write(f"{MARKET_ROOT}/gt_query/{stem}_junk.mat", _mat_bytes(junk_index=np.asarray([junk], np.float64)))
    writer.close()
    return out


def write_mars(
    out: Path,
    persons: int = 8,
    cameras: int = 3,
    train_tracks_per_person: int = 8,
    test_tracks_per_camera: int = 2,
    frames: int = 3,
    height: int = 128,
    width: int = 64,
    as_zip: bool = False,
    tint: bool = True,
    seed: int = 0,
    mnist_dir: Path = SHIPPED_MNIST,
) -> Path:
    """Write bbox_train/, bbox_test/ and info/ (test_name.txt, tracks_test_info.mat, query_IDX.mat)."""
    rng = np.random.default_rng(seed)
    data = load_mnist(mnist_dir)
    writer = _Writer(out, "MARS-evaluation-master.zip" if as_zip else None)
    used: set[int] = set()
    for digit in range(persons):
        pid = f"{digit + 1:04d}"
        for t, i in enumerate(_pick(data.y_train, digit, train_tracks_per_person, used, rng)):
            cam = 1 + t % cameras
            for f in range(frames):
                writer.write(f"bbox_train/{pid}/{pid}C{cam}T{t + 1:04d}F{f + 1:03d}.jpg",
                             jpeg(digit_crop(data.x_train[i], cam, height, width, rng, tint)))  # fmt: skip
    used_test: set[int] = set()
    names: list[str] = []
    tracks: list[tuple[int, int, int, int]] = []
    query: list[int] = []

    def track(pid: str, digit_index: int | None, cam: int, t: int) -> None:
        start = len(names)
        for f in range(frames):
            file = f"{pid}C{cam}T{t:04d}F{f + 1:03d}.jpg"
            image = (digit_crop(data.x_test[digit_index], cam, height, width, rng, tint) if digit_index is not None
                     else rng.integers(0, 256, (height, width, 3), dtype=np.uint8))  # fmt: skip
            writer.write(f"bbox_test/{pid}/{file}", jpeg(image))
            names.append(file)
        tracks.append((start + 1, len(names), int(pid) if pid.isdigit() else -1, cam))

    for digit in range(persons):
        pid, t = f"{digit + 1:04d}", 0
        for cam in range(1, cameras + 1):
            for k, i in enumerate(_pick(data.y_test, digit, test_tracks_per_camera, used_test, rng)):
                t += 1
                if k == 0 and cam == 1:
                    query.append(len(tracks) + 1)  # one query track per person, from camera 1
                track(pid, i, cam, t)
    for k, i in enumerate(_pick(data.y_test, 8, 2, used_test, rng)):
        track("0000", i, 1 + k % cameras, k + 1)  # distractors
    track("00-1", None, 1, 1)  # junk
    writer.write("info/test_name.txt", "".join(f"{n}\n" for n in names).encode())
    writer.write("info/tracks_test_info.mat", _mat_bytes(track_test_info=np.asarray(tracks, np.float64)))
    writer.write("info/query_IDX.mat", _mat_bytes(query_IDX=np.asarray([query], np.float64)))
    writer.close()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a re-ID data set made of MNIST digits")
    parser.add_argument("layout", choices=["market1501", "mars"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--zip", action="store_true", help="one .zip, as the data set is distributed")
    args = parser.parse_args(argv)
    writer = write_market1501 if args.layout == "market1501" else write_mars
    print(writer(args.out, as_zip=args.zip))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
