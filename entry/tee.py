"""Copy everything the process writes to fd 1 and 2 (Python, C libraries, child processes) into a log file too."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path


class Tee:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = open(path, "ab", buffering=0)
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved_stdout = os.dup(1)
        self._saved_stderr = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 1)
        os.dup2(write_end, 2)
        os.close(write_end)
        self._thread = threading.Thread(target=self._pump, args=(read_end,), name="log-tee", daemon=True)
        self._thread.start()

    def _pump(self, read_end: int) -> None:
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                os.write(self._saved_stdout, chunk)
                self._file.write(chunk)

    def close(self) -> None:
        """Restore fd 1/2; returns once every byte written so far is in the file."""
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self._saved_stdout, 1)  # drops the last write ends of the pipe -> the pump sees EOF
        os.dup2(self._saved_stderr, 2)
        self._thread.join(timeout=10)
        self._file.close()
        os.close(self._saved_stdout)
        os.close(self._saved_stderr)
