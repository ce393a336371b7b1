"""`import moxing as mox` for unchanged ModelArts scripts: `mox.file` is launcher.storage.mox.

Not the unrelated PyPI package of the same name; this shim only forwards to launcher.storage.
"""

from launcher.storage import mox as file

__all__ = ["file"]
