"""`import moxing as mox` for unchanged ModelArts scripts: `mox.file` is launcher.storage.mox.

Not the unrelated PyPI package of the same name; this shim only forwards to launcher.storage. The import
paths public scripts use all lead to the same module: `moxing.file`, `moxing.framework.file` (and its
`file_io`), `moxing.tensorflow.file`, `moxing.pytorch.file`.
"""

import sys

from launcher.storage import mox as file

# `import moxing.file`, `from moxing.framework.file import copy`, `moxing.framework.file.file_io` (where moxing
# keeps the functions and exceptions) resolve to the one module.
for _name in ("file", "framework.file", "framework.file.file_io"):
    sys.modules[f"{__name__}.{_name}"] = file
file.file_io = file  # type: ignore[attr-defined] # `from moxing.framework.file import file_io`

# Imported here so that `import moxing.framework.file.file_io` (found in sys.modules, parents skipped) still
# leaves `moxing.framework` bound.
from moxing import framework, pytorch, tensorflow  # noqa: E402

__all__ = ["file", "framework", "pytorch", "tensorflow"]
