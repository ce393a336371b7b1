"""The code a remote job runs: the job's code dir plus the `launcher` and `entry` packages, synced to object storage.

ModelArts downloads `code_dir` into the container itself; Volcano pods fetch it in an init container. Either way
the folder must hold the entry script and everything it imports, and nothing that makes it slow to copy
(virtual environments, git history, caches). ModelArts advises keeping a code dir under ~50 MB.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from loguru import logger
from pydantic import BaseModel

import entry
import launcher
from launcher import storage
from launcher.errors import UserError
from launcher.jobspec import JobSpec

CODE_PACKAGES = (Path(launcher.__file__).resolve().parent, Path(entry.__file__).resolve().parent)
# Never uploaded: tools' state, caches, environments, and the test suite (unless the recipe lives there).
DEFAULT_EXCLUDES = (
    ".git/*",
    ".venv/*",
    "venv/*",
    ".launcher/*",
    "*__pycache__/*",
    "*.pyc",
    ".pytest_cache/*",
    ".ruff_cache/*",
    ".mypy_cache/*",
    ".hypothesis/*",
    "*.egg-info/*",
    "build/*",
    "dist/*",
    "tests/*",
)


class CodeUpload(BaseModel):
    source: Path
    destination: str  # a folder URL (ends with '/')
    exclude: list[str]


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
        hits = [p for p in must_keep if fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p.rsplit("/", 1)[-1], pattern)]
        if hits:
            logger.debug("code upload: not excluding {} (the job needs {})", pattern, ", ".join(hits))
        else:
            kept.append(pattern)
    return kept


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
    if job.recipe.trainer:
        must_keep.append(job.recipe.trainer.split(":", 1)[0].replace(".", "/") + ".py")
    excludes = _kept([*DEFAULT_EXCLUDES, *(extra_excludes or [])], must_keep)
    uploads = [CodeUpload(source=code_dir, destination=url, exclude=excludes)]
    for package in CODE_PACKAGES:
        if not (code_dir / package.name).is_dir():  # the job imports them from the code dir
            uploads.append(CodeUpload(source=package, destination=f"{url}{package.name}/", exclude=excludes))
    return CodePlan(url=url, recipe=recipe, uploads=uploads)


def upload_code(plan: CodePlan) -> None:
    for item in plan.uploads:
        logger.info("uploading {} to {}", item.source, item.destination)
        storage.sync(str(item.source), item.destination, exclude=item.exclude)
