"""`import moxing as mox` for unchanged ModelArts scripts: `mox.file` is launcher.storage.mox.

Not the unrelated PyPI package of the same name; this shim only forwards to launcher.storage.
"""

import sys

from launcher.storage import mox as file

sys.modules[__name__ + ".file"] = file  # `import moxing.file` / `from moxing.file import copy` work too

__all__ = ["file"]
