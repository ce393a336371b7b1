"""The job's output folder as the sync engine's source: nothing read through a link out of it.

A trainer may leave anything there: `self -> .` (a loop), `data -> /cache/data` (gigabytes that are not its
output), `env -> /proc/self/environ` (the job's secrets). The listing follows the storage layer's link policy
(LocalStore.scan with links="inside": links inside the folder are followed, loops, dangling links and links out
of the folder or into /proc are skipped with one warning each). Paths are checked again when a file is opened,
so a link swapped in after the listing is refused too.
"""

from __future__ import annotations

import os

from launcher.storage import StorageError
from launcher.storage.stores import LocalStore


class OutputFolder(LocalStore):
    def __init__(self, root: str) -> None:
        super().__init__(os.path.realpath(root))

    def inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == self.root or real.startswith(self.root + os.sep)

    def path(self, key: str) -> str:
        found = super().path(key)
        if key and not self.inside(found):
            raise StorageError(f"not pushed: {found} leads out of the output folder {self.root}")
        return found
