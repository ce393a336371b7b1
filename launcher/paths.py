"""Where the launcher keeps its state: LAUNCHER_HOME (default ~/.launcher), private to its user.

Job records, logs, requests and profiles may hold secrets (a reason quoting a key, a profile's keys), so every
folder the launcher makes is 0700 and every file 0600, set explicitly: the umask cannot widen (or, for us,
narrow) them. Folders that already exist are left as they are; profiles.toml that others can read gets one
warning line, as ssh gives for a private key.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from entry.contract import ENV_HOME
from launcher.logs import logger

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_warned: set[Path] = set()


def private_dir(path: Path) -> Path:
    """Make `path` and its missing parents as 0700 folders (Path.mkdir gives parents the umask's mode)."""
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # made by another process at the same moment: not ours to chmod
        os.chmod(folder, PRIVATE_DIR)
    return path


def _open_private(path: Path, flags: int) -> int:
    # O_NOFOLLOW: a link planted in the job folder must not redirect our write somewhere else.
    fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_private(path: Path, content: str | bytes) -> None:
    """Write a whole file as 0600 (text as UTF-8)."""
    data = content.encode() if isinstance(content, str) else content
    with os.fdopen(_open_private(path, os.O_WRONLY | os.O_TRUNC), "wb") as f:
        f.write(data)


def touch_private(path: Path) -> Path:
    """Create `path` empty as 0600 if it does not exist (an existing one is made 0600 and kept)."""
    os.close(_open_private(path, os.O_WRONLY | os.O_APPEND))
    return path


def warn_if_exposed(path: Path) -> None:
    """One warning line (once a process) when a file that may hold keys is open to group or others."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o077 and path not in _warned:
        _warned.add(path)
        logger.warning(
            "{} is open to group/others (mode {:04o}) and may hold storage keys: run `chmod 600 {}`", path, mode, path
        )


def launcher_home() -> Path:
    """The state folder; created (0700) on first use."""
    home = Path(os.environ.get(ENV_HOME) or Path.home() / ".launcher").expanduser()
    return private_dir(home)


def objects_root() -> Path:
    """Root of the embedded object store: obs://bucket/key -> objects_root()/bucket/key."""
    return launcher_home() / "objects"


def jobs_root() -> Path:
    """Per-job folders for the local backend (logs, data cache, output)."""
    return launcher_home() / "jobs"
