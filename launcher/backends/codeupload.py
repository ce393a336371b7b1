"""The code a remote job runs: the job's code dir plus the `launcher` and `entry` packages, synced to object storage.

ModelArts downloads `code_dir` into the container itself; Volcano pods fetch it in an init container. Either way
the folder must hold the entry script and everything it imports, and nothing that makes it slow to copy
(virtual environments, git history, caches; ModelArts advises keeping a code dir under ~50 MB) or that must not
leave this machine (credentials, what .gitignore leaves out, what links out of the folder point to; see
codefiles.py). The chosen files are staged in a private temporary folder, so the upload sends exactly them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pathspec
from pydantic import BaseModel

import entry
import launcher
from launcher import storage
from launcher.backends.codefiles import is_never_uploaded, select_code_files
from launcher.errors import UserError
from launcher.jobspec import JobSpec
from launcher.logs import logger
from launcher.paths import launcher_home, private_dir

CODE_PACKAGES = (Path(launcher.__file__).resolve().parent, Path(entry.__file__).resolve().parent)
# Never uploaded (gitignore patterns): tools' state, caches, environments, and the test suite (unless the recipe
# lives there). The code dir's own .gitignore files come after these and may re-include a file.
DEFAULT_EXCLUDES = (
    ".git/",
    ".venv/",
    "venv/",
    ".launcher/",
    "__pycache__/",
    "*.pyc",
    ".pytest_cache/",
    ".ruff_cache/",
    ".mypy_cache/",
    ".hypothesis/",
    "*.egg-info/",
    "/build/",
    "/dist/",
    "/tests/",
)


class CodeUpload(BaseModel):
    source: Path
    destination: str  # a folder URL (ends with '/')
    exclude: list[str]  # the rules applied before the folder's .gitignore files (shown by `render`)
    files: list[str]  # exactly what is uploaded, relative to `source`


class CodePlan(BaseModel):
    """Where the code goes and what is copied there; the recipe's path inside it is what the job is given."""

    url: str  # the code folder's URL, ending with '/'
    recipe: str  # relative to the code folder
    uploads: list[CodeUpload]


def default_code_url(job: JobSpec) -> str:
    """`<scheme>://<bucket of train_url>/launcher-code/<job id>/code/`: beside the outputs, one folder per job."""
    train = storage.parse_url(job.train_url)
    if train.is_local:
        raise UserError(f"train_url {job.train_url} is a local path: a remote job needs an obs:// or s3:// URL")
    return f"{train.scheme}://{train.bucket}/launcher-code/{job.id}/code/"


def _folder_url(url: str) -> str:
    parsed = storage.parse_url(url)
    if parsed.is_local:
        raise UserError(f"code_url {url} is a local path: the remote job needs an obs:// or s3:// URL")
    return url if url.endswith("/") else url + "/"


def _kept(patterns: list[str], must_keep: list[str]) -> list[str]:
    """Drop every exclude that would leave out a file the job needs (a recipe kept under tests/)."""
    kept = []
    for pattern in patterns:
        spec = pathspec.GitIgnoreSpec.from_lines([pattern])
        hits = [p for p in must_keep if any(spec.match_file(part) for part in _with_parents(p))]
        if hits:
            logger.debug("code upload: not excluding {} (the job needs {})", pattern, ", ".join(hits))
        else:
            kept.append(pattern)
    return kept


def _with_parents(rel: str) -> list[str]:
    """`a/b/c.py` -> `a/`, `a/b/`, `a/b/c.py`: a folder rule hits the file through its folders."""
    parts = rel.split("/")
    return [*("/".join(parts[: i + 1]) + "/" for i in range(len(parts) - 1)), rel]


def _check_trainer_found(job: JobSpec, code_dir: Path) -> str | None:
    """The trainer module's path in the code dir; refuses a code dir that does not hold its package (the code
    dir then fell back to the current directory, and uploading all of it is never what was meant)."""
    if not job.recipe.trainer:
        return None
    module = job.recipe.trainer.split(":", 1)[0]
    top = module.split(".", 1)[0]
    if not ((code_dir / top).is_dir() or (code_dir / f"{top}.py").is_file()):
        raise UserError(
            f"the trainer's package {top!r} ({job.recipe.trainer}) is not in {job.recipe_path.parent} or any folder "
            f"above it: refusing to upload {code_dir}; keep the recipe inside the project that holds {top}/"
        )
    path = module.replace(".", "/")
    return f"{path}.py" if (code_dir / f"{path}.py").is_file() else f"{path}/__init__.py"


def plan_code_upload(job: JobSpec, code_url: str | None = None, extra_excludes: list[str] | None = None) -> CodePlan:
    url = _folder_url(code_url) if code_url else default_code_url(job)
    code_dir = job.code_dir.resolve()
    try:
        recipe = job.recipe_path.resolve().relative_to(code_dir).as_posix()
    except ValueError:
        raise UserError(
            f"recipe {job.recipe_path} is outside its code dir {code_dir}: move it into the code dir"
        ) from None
    must_keep = [recipe]
    trainer = _check_trainer_found(job, code_dir)
    if trainer:
        must_keep.append(trainer)
    for needed in must_keep:
        if is_never_uploaded(needed):
            raise UserError(f"{code_dir / needed} looks like a credentials file and is never uploaded: rename it")
    excludes = _kept([*DEFAULT_EXCLUDES, *(extra_excludes or [])], must_keep)
    selected = select_code_files(code_dir, excludes, must_keep)
    uploads = [CodeUpload(source=code_dir, destination=url, exclude=excludes, files=selected.files)]
    for package in CODE_PACKAGES:
        if not (code_dir / package.name).is_dir():  # the job imports them from the code dir
            files = select_code_files(package, excludes).files
            destination = f"{url}{package.name}/"
            uploads.append(CodeUpload(source=package, destination=destination, exclude=excludes, files=files))
    return CodePlan(url=url, recipe=recipe, uploads=uploads)


def _stage(item: CodeUpload, staging: Path) -> None:
    """Hard-link (else copy, with mtimes) the chosen files into `staging`; a file that now resolves out of the source
    folder (a link swapped since the plan) is left out."""
    source = item.source.resolve()
    for rel in item.files:
        path = source / rel
        if not path.resolve().is_relative_to(source):
            logger.warning("code upload: skipping {}: it now points out of the code folder", path)
            continue
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)  # same file system: no copy, and the mtime the sync compares is the file's own
        except OSError:
            shutil.copy2(path, target)  # another file system, or links not allowed here


def upload_code(plan: CodePlan) -> None:
    for item in plan.uploads:
        logger.info("uploading {} files of {} to {}", len(item.files), item.source, item.destination)
        with tempfile.TemporaryDirectory(prefix="code-", dir=private_dir(launcher_home() / "tmp")) as staging:
            _stage(item, Path(staging))
            storage.sync(staging, item.destination)
