"""Copy everything the process writes to fd 1 and 2 (Python, C libraries, child processes) into a log file too.

Each stream keeps going where it went before (stdout stays stdout, stderr stays stderr); the file gets both.
Both get it with every secret the process knows masked (launcher/redact.py): a trainer that prints a key, or
raises with one in its message, leaves it in neither the console the platform captures nor the pushed log.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from launcher.redact import StreamRedactor


class Tee:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = open(path, "ab", buffering=0)
        self._file_lock = threading.Lock()
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved: dict[int, int] = {}
        self._threads: list[threading.Thread] = []
        for fd in (1, 2):
            self._saved[fd] = os.dup(fd)
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            thread = threading.Thread(target=self._pump, args=(read_end, self._saved[fd]), name=f"tee-{fd}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _pump(self, read_end: int, original: int) -> None:
        redactor = StreamRedactor()
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                self._emit(original, redactor.feed(chunk))
        self._emit(original, redactor.flush())

    def _emit(self, original: int, data: bytes) -> None:
        if not data:
            return
        try:
            os.write(original, data)
        except OSError:  # the console is gone: the file still gets it
            pass
        with self._file_lock:
            try:
                self._file.write(data)
            except OSError:  # a full disk: the console still gets it
                pass

    def close(self) -> None:
        """Restore fd 1/2; returns once every byte written so far is in the file."""
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in self._saved.items():
            os.dup2(saved, fd)  # drops the last write end of the pipe -> its pump sees EOF
        for thread in self._threads:
            thread.join(timeout=10)
        self._file.close()
        for saved in self._saved.values():
            os.close(saved)
