"""A Job: one recipe resolved for one run (id, validated hyperparameters, URLs, code dir). Backends render it."""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from launcher.errors import UserError, format_validation_error
from launcher.flags import typed_values
from launcher.recipe import Recipe, Resources, hyperparameters_class, load_recipe, validate_hyperparameters

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


def locate_recipe(recipe_path: str | Path) -> tuple[Recipe, Path, Path]:
    """The recipe, its absolute path and its code dir (put on sys.path, so its hyperparameters model imports)."""
    recipe = load_recipe(recipe_path)  # errors name the path as the user wrote it
    path = Path(recipe_path).resolve()
    # A legacy (ModelZoo) recipe sits in the code dir it runs; a trainer is found by its package.
    code_dir = path.parent if recipe.trainer is None else find_code_dir(path, recipe.trainer)
    use_code_dir(code_dir)
    return recipe, path, code_dir


def use_code_dir(code_dir: Path) -> None:
    if str(code_dir) not in sys.path:  # the hyperparameters model is imported from the code dir, as in the job
        sys.path.insert(0, str(code_dir))


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
    recipe, path, code_dir = locate_recipe(recipe_path)
    values = recipe.hyperparameter_values(perf=entry == "perf")
    return resolve_job(
        recipe, path, code_dir, {**values, **(overrides or {})}, resources=resources,
        data_url=data_url or recipe.data_url, train_url=train_url or recipe.output_url, entry=entry,
    )  # fmt: skip


def replay_job(
    resolved: ResolvedJob, overrides: dict[str, Any] | None = None, *, resources: dict[str, Any] | None = None
) -> JobSpec:
    """The job `resolved` describes (as stored at submit), under a new id, with `overrides` on top: the
    recipe snapshot, not the file as it is now; the same data, train_url (so it resumes) and entry mode."""
    return resolve_job(
        resolved.recipe, resolved.recipe_path, resolved.code_dir, {**resolved.hyperparameters, **(overrides or {})},
        resources=resources, data_url=resolved.data_url, train_url=resolved.train_url, entry=resolved.entry,
    )  # fmt: skip


def resolve_job(
    recipe: Recipe,
    path: Path,
    code_dir: Path,
    hyperparameters: dict[str, Any],
    *,
    resources: dict[str, Any] | None,
    data_url: str,
    train_url: str,
    entry: EntryMode,
) -> JobSpec:
    """Validate resources and hyperparameters (all values given: recipe and model defaults already merged)."""
    if resources:
        try:
            chosen = Resources.model_validate({**recipe.resources.model_dump(), **resources})
        except ValidationError as error:
            raise UserError(format_validation_error(error, prefix="--")) from None
        recipe = recipe.model_copy(update={"resources": chosen})
    use_code_dir(code_dir)
    model = hyperparameters_class(recipe)
    validated = validate_hyperparameters(model, typed_values(model, hyperparameters))
    job_id = new_job_id(recipe.name)
    return JobSpec(
        id=job_id,
        recipe=recipe,
        recipe_path=path,
        code_dir=code_dir,
        hyperparameters=validated.model_dump(mode="json"),
        data_url=data_url,
        train_url=train_url.replace("{job_id}", job_id),
        entry=entry,
    )


class ResolvedJob(BaseModel):
    """The job as it was resolved at submit, stored in its record: what `restart` replays."""

    recipe: Recipe  # a snapshot, resources included: a later edit of the file does not change a restart
    recipe_path: Path
    code_dir: Path
    hyperparameters: dict[str, Any]
    data_url: str
    train_url: str
    entry: EntryMode = "acc"
    backend: str
    backend_options: dict[str, Any] = {}

    @classmethod
    def of(cls, job: JobSpec, backend: str, options: BaseModel) -> ResolvedJob:
        return cls(
            **job.model_dump(include={"recipe", "recipe_path", "code_dir", "hyperparameters", "data_url", "train_url", "entry"}),
            backend=backend,
            backend_options=options.model_dump(mode="json"),  # every value, defaults too: replayed as they were
        )
