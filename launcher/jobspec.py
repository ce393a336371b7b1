"""A Job: one recipe resolved for one run (id, validated hyperparameters, URLs, code dir). Backends render it."""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from launcher.errors import UserError
from launcher.recipe import Recipe, Resources, format_validation_error, load_recipe, resolve_hyperparameters

EntryMode = Literal["acc", "perf"]


class JobSpec(BaseModel):
    id: str
    recipe: Recipe
    recipe_path: Path  # absolute
    code_dir: Path  # the folder whose packages the trainer is imported from; uploaded for remote backends
    hyperparameters: dict[str, Any]  # validated by the recipe's model, JSON-ready (types survive the trip)
    data_url: str
    train_url: str
    entry: EntryMode = "acc"

    @property
    def recipe_relpath(self) -> str:
        """The recipe's path inside the code dir, as the job sees it."""
        try:
            return self.recipe_path.relative_to(self.code_dir).as_posix()
        except ValueError:
            return str(self.recipe_path)


def new_job_id(name: str) -> str:
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def find_code_dir(recipe_path: Path, trainer_ref: str) -> Path:
    """Nearest folder at or above the recipe that holds the trainer's top-level package (e.g. `recipes/`) or
    module (`train.py`). None found: the current directory (the package may be installed); remote backends
    refuse to upload that (codeupload.py)."""
    top_package = trainer_ref.split(":", 1)[0].split(".", 1)[0]
    for folder in [recipe_path.parent, *recipe_path.parent.parents]:
        if (folder / top_package).is_dir() or (folder / f"{top_package}.py").is_file():
            return folder
    return Path.cwd().resolve()


def plan_job(
    recipe_path: str | Path,
    overrides: dict[str, Any] | None = None,
    *,
    resources: dict[str, Any] | None = None,
    data_url: str | None = None,
    train_url: str | None = None,
    entry: EntryMode = "acc",
) -> JobSpec:
    """Load, validate and resolve everything a backend needs; raises UserError on any bad input.

    `overrides` are hyperparameters; `resources` replace fields of the recipe's resources (backend, device, ...).
    """
    recipe = load_recipe(recipe_path)  # errors name the path as the user wrote it
    if resources:
        try:
            chosen = Resources.model_validate({**recipe.resources.model_dump(), **resources})
        except ValidationError as error:
            raise UserError(format_validation_error(error, prefix="--")) from None
        recipe = recipe.model_copy(update={"resources": chosen})
    path = Path(recipe_path).resolve()
    # A legacy (ModelZoo) recipe sits in the code dir it runs; a trainer is found by its package.
    code_dir = path.parent if recipe.trainer is None else find_code_dir(path, recipe.trainer)
    if str(code_dir) not in sys.path:  # the hyperparameters model is imported from the code dir, as in the job
        sys.path.insert(0, str(code_dir))
    hyperparameters = resolve_hyperparameters(recipe, overrides, perf=entry == "perf")
    job_id = new_job_id(recipe.name)
    return JobSpec(
        id=job_id,
        recipe=recipe,
        recipe_path=path,
        code_dir=code_dir,
        hyperparameters=hyperparameters.model_dump(mode="json"),
        data_url=data_url or recipe.data_url,
        train_url=(train_url or recipe.output_url).replace("{job_id}", job_id),
        entry=entry,
    )
