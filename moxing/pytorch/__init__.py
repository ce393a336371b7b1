"""`moxing.pytorch`: exposes `file` (launcher.storage.mox), as moxing's own `moxing.pytorch.file` does."""

from moxing import file

__all__ = ["file"]
