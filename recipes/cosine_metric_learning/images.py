"""Person crops: a list of named images with identity and camera, decoded on demand to fixed-size RGB uint8."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from launcher.errors import UserError
from recipes.common.filetree import FileTree


class DataError(UserError):
    """A data folder that does not have the layout or file names the reader expects."""


@dataclass
class ReidSet:
    """Images of people: `names[i]` (a FileTree name) shows identity `ids[i]` seen by camera `cameras[i]`."""

    tree: FileTree | None
    names: list[str]
    ids: np.ndarray  # int64; -1 = junk detection, 0 = distractor (Market), as in the file names
    cameras: np.ndarray  # int64, 1-based as in the file names
    tracks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # MARS tracklet numbers
    pixels: np.ndarray | None = None  # uint8 RGB [N, h, w, 3] already in memory (digit identities); no tree then

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, mask: np.ndarray) -> ReidSet:
        keep = np.flatnonzero(mask)
        tracks = self.tracks[keep] if len(self.tracks) else self.tracks
        pixels = None if self.pixels is None else self.pixels[keep]
        return ReidSet(self.tree, [self.names[i] for i in keep], self.ids[keep], self.cameras[keep], tracks, pixels)

    def load(self, height: int, width: int) -> np.ndarray:
        """uint8 RGB [N, height, width, 3]; crops of another size are resized (bilinear, like cv2.resize)."""
        out = np.empty((len(self.names), height, width, 3), np.uint8)
        for i, name in enumerate(self.names):
            if self.pixels is not None:
                out[i] = resize_image(self.pixels[i], height, width)
            else:
                assert self.tree is not None
                out[i] = decode_image(self.tree.read(name), height, width, name)
        return out


def resize_image(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 RGB [h, w, 3] -> [height, width, 3], bilinear (as decode_image resizes)."""
    from PIL import Image

    if rgb.shape[:2] == (height, width):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR), dtype=np.uint8)


def decode_image(data: bytes, height: int, width: int, name: str = "image") -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return resize_image(np.asarray(image.convert("RGB"), dtype=np.uint8), height, width)
    except (UnidentifiedImageError, OSError) as error:
        raise DataError(f"{name}: not a readable image ({error})") from None
