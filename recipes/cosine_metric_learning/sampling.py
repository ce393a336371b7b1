"""Identity splits and batches, as the original util.py / queued_trainer.py draw them, but resumable.

- validation: `int(fraction * n_ids)` identities (not images) drawn by `RandomState(1234).choice(..., replace=False)`.
- batches: `ids_per_batch` identities without replacement, `images_per_id` images of each (the original
  `random_sample_identities_forever`); an identity with fewer images is drawn with replacement so every batch has
  the same shape (the original left those slots as zero images labelled 0). Draws depend on (seed, step) only.
- CMC probe/gallery: per identity one probe and one gallery image, from two different cameras when it has two.
"""

from __future__ import annotations

import numpy as np

from recipes.cosine_metric_learning.images import DataError

VALIDATION_SEED = 1234  # util.create_validation_split(..., seed=1234) in train_market1501.py / train_mars.py
GALLERY_SEED = 4321  # eval: gallery i is drawn with seed 4321 + i


def validation_mask(ids: np.ndarray, fraction: float) -> np.ndarray:
    """True for images of the held-out identities."""
    unique = np.unique(ids)
    held_out = np.random.RandomState(VALIDATION_SEED).choice(unique, int(fraction * len(unique)), replace=False)
    return np.isin(ids, held_out)


class IdentitySampler:
    def __init__(self, ids: np.ndarray, ids_per_batch: int, images_per_id: int, seed: int) -> None:
        self.unique = np.unique(ids[ids >= 0])
        if len(self.unique) < ids_per_batch:
            raise DataError(
                f"a batch takes {ids_per_batch} identities (batch_size / images_per_id) but the training split has "
                f"{len(self.unique)}; lower batch_size or images_per_id"
            )
        self.by_id = {int(y): np.flatnonzero(ids == y) for y in self.unique}
        self.ids_per_batch, self.images_per_id, self.seed = ids_per_batch, images_per_id, seed

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """(image indices, 0/1 horizontal-flip flags) of batch `step`."""
        rng = np.random.default_rng([self.seed, step])
        chosen = rng.choice(self.unique, self.ids_per_batch, replace=False)
        indices = np.concatenate([
            rng.choice(self.by_id[int(y)], self.images_per_id, replace=len(self.by_id[int(y)]) < self.images_per_id)
            for y in chosen
        ])  # fmt: skip
        return indices, rng.integers(0, 2, len(indices))


def probe_and_gallery(ids: np.ndarray, cameras: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One probe and one gallery index per identity with at least two images."""
    rng = np.random.RandomState(seed)
    probes, gallery = [], []
    for y in np.unique(ids[ids >= 0]):
        mine = np.flatnonzero(ids == y)
        if len(mine) < 2:
            continue
        first = rng.choice(mine)
        others = mine[cameras[mine] != cameras[first]]
        if len(others) == 0:  # seen by one camera only
            others = mine[mine != first]
        probes.append(first)
        gallery.append(rng.choice(others))
    return np.asarray(probes, np.int64), np.asarray(gallery, np.int64)
