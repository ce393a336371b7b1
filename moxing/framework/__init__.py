"""`moxing.framework`: exposes `file` (launcher.storage.mox), as moxing's own `moxing.framework.file` does."""

from moxing import file

__all__ = ["file"]
