"""Batch order as a pure function of the step number, so a resumed job sees exactly the batches it would have seen.

Like the TF MNIST reader's `next_batch`, examples are drawn pass after pass over the training set, each pass a
fresh shuffle; pass k is shuffled with the seed (seed, k). Step s takes positions [s*B, (s+1)*B) of that endless
stream, so a batch may straddle two passes, just as `next_batch` did.
"""

from __future__ import annotations

import numpy as np


class BatchSampler:
    def __init__(self, num_examples: int, batch_size: int, seed: int) -> None:
        if num_examples <= 0:
            raise ValueError("cannot sample batches from an empty training set")
        self.num_examples = num_examples
        self.batch_size = batch_size
        self.seed = seed
        self._perms: dict[int, np.ndarray] = {}

    def _perm(self, data_pass: int) -> np.ndarray:
        perm = self._perms.get(data_pass)
        if perm is None:
            # Keep only the passes around the current step: memory stays O(num_examples).
            self._perms = {k: v for k, v in self._perms.items() if k >= data_pass - 1}
            perm = np.random.default_rng([self.seed, data_pass]).permutation(self.num_examples)
            self._perms[data_pass] = perm
        return perm

    def indices(self, step: int) -> np.ndarray:
        """Example indices of batch `step` (0-based)."""
        positions = np.arange(step * self.batch_size, (step + 1) * self.batch_size, dtype=np.int64)
        passes, offsets = np.divmod(positions, self.num_examples)
        if passes[0] == passes[-1]:
            return self._perm(int(passes[0]))[offsets]
        return np.array([self._perm(int(p))[o] for p, o in zip(passes, offsets, strict=True)])
