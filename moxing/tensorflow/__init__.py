"""`moxing.tensorflow`: exposes `file` (launcher.storage.mox), as moxing's own `moxing.tensorflow.file` does."""

from moxing import file

__all__ = ["file"]
