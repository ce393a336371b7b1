"""ModelZoo code folders run as-is (`bash test/train_full_1p.sh --data_path=... --output_path=...`), without
touching the user's folder.

The ModelZoo template runs `dos2unix ./test/*` in the code folder. We never write there (it may be the user's
checkout, or mounted read-only as the docker backend does): the job folder gets a mirror of the code folder
(`<work>/legacy-code`) whose entries link back to the originals, except the script's own folder, which holds
converted copies of the files that had CRLF line ends. The script runs in the mirror, so it finds its siblings
converted, and whatever it writes into its current folder lands in the job folder.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from launcher.errors import UserError
from launcher.logs import logger

MIRROR = "legacy-code"
# The entry passes these itself; a hyperparameter of the same name must not replace them.
ENTRY_ARGUMENTS = ("data_path", "output_path")


def prepare(code_dir: Path, script: str, work_dir: Path) -> Path:
    """Build the mirror for `script` (relative to code_dir) and return it: the folder to run the script in."""
    if Path(script).is_absolute() or ".." in Path(script).parts:
        raise UserError(f"legacy script {script!r} must be a path inside the code folder (no '..', not absolute)")
    source = code_dir / script
    if not source.is_file():
        raise UserError(f"legacy script {script} not found in {code_dir}")
    mirror = work_dir / MIRROR
    shutil.rmtree(mirror, ignore_errors=True)
    mirror.mkdir(parents=True)
    _link_entries(code_dir, mirror, keep=_first_part(script))
    # Down to the script's folder: real folders; their other entries link back.
    parts = Path(script).parent.parts
    for depth in range(1, len(parts) + 1):
        here = Path(*parts[:depth])
        (mirror / here).mkdir(exist_ok=True)
        _link_entries(code_dir / here, mirror / here, keep=parts[depth] if depth < len(parts) else None)
    _convert_folder(code_dir / Path(script).parent, mirror / Path(script).parent)
    return mirror


def argv(script: str, data_dir: Path, output_dir: Path, values: dict[str, Any]) -> list[str]:
    """bash <script> --data_path=... --output_path=... --<hyperparameter>=... (never overriding the first two)."""
    flags = []
    for name, value in values.items():
        if name in ENTRY_ARGUMENTS:
            logger.warning("hyperparameter {} ignored: the entry passes --{} itself", name, name)
            continue
        flags.append(f"--{name}={value if isinstance(value, str) else json.dumps(value)}")
    return ["bash", script, f"--data_path={data_dir}", f"--output_path={output_dir}", *flags]


def _first_part(script: str) -> str | None:
    parts = Path(script).parts
    return parts[0] if len(parts) > 1 else None


def _link_entries(source: Path, target: Path, keep: str | None) -> None:
    """Link every entry of `source` into `target`, except `keep` (made a real folder by the caller)."""
    for entry in sorted(os.listdir(source)):
        if entry != keep and not (target / entry).exists():
            os.symlink(source / entry, target / entry)


def _convert_folder(source: Path, target: Path) -> None:
    """What `dos2unix <folder>/*` does, on copies: files with CRLF are replaced by converted copies."""
    for entry in sorted(os.listdir(source)):
        original = source / entry
        if not original.is_file():
            continue
        data = original.read_bytes()
        if b"\r\n" not in data:
            continue
        copy = target / entry
        copy.unlink()
        copy.write_bytes(data.replace(b"\r\n", b"\n"))
        copy.chmod(original.stat().st_mode & 0o777 | 0o200)
        logger.info("legacy: {} has CRLF line ends: running a converted copy", original)
