"""The job's output folder as the sync engine's source, listed without following links out of it.

A trainer may leave anything there: `self -> .` (a loop), `data -> /cache/data` (gigabytes that are not its
output), `env -> /proc/self/environ` (the job's secrets). What is pushed is what the folder holds:
- a link to a file inside the folder is pushed as that file's content;
- a link to a folder (inside or not: a loop, or a second copy), a link out of the folder and a dangling link are
  skipped, with one warning per link per process.
Paths are checked again when a file is opened, so a link swapped in after the listing is refused too.
"""

from __future__ import annotations

import os
import stat as stat_mod
import threading

from loguru import logger

from launcher.storage import StorageError
from launcher.storage.stores import Entry, Listing, LocalStore, is_part_file

_warned: set[str] = set()
_warned_lock = threading.Lock()


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

    def _walk(self, top: str) -> Listing:
        listing = Listing()
        stack = [("", top)]
        while stack:
            rel_dir, folder = stack.pop()
            try:
                with os.scandir(folder) as it:
                    items = list(it)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for item in items:
                rel = rel_dir + item.name
                if is_part_file(item.name):
                    listing.leftovers.append(rel)
                    continue
                try:
                    if item.is_symlink():
                        entry = self._linked_file(rel, item.path)
                        if entry is not None:
                            listing.entries.append(entry)
                        continue
                    if item.is_dir(follow_symlinks=False):
                        stack.append((rel + "/", item.path))
                        continue
                    st = item.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat_mod.S_ISREG(st.st_mode):
                    listing.entries.append(Entry(rel, st.st_size, st.st_mtime))
        return listing

    def _linked_file(self, rel: str, path: str) -> Entry | None:
        target = os.path.realpath(path)
        if not self.inside(target):
            _warn_once(path, f"not pushed: {rel} is a link out of the output folder (to {target})")
            return None
        try:
            st = os.stat(target)
        except OSError:
            _warn_once(path, f"not pushed: {rel} is a dangling or looping link")
            return None
        if not stat_mod.S_ISREG(st.st_mode):
            _warn_once(path, f"not pushed: {rel} is a link to a folder ({target}); links to folders are not followed")
            return None
        return Entry(rel, st.st_size, st.st_mtime)


def _warn_once(path: str, message: str) -> None:
    with _warned_lock:
        if path in _warned:
            return
        _warned.add(path)
    logger.warning("{}", message)
