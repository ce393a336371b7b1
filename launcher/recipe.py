"""Recipe files: what to train, on which data, with which hyperparameters, where.

A recipe is YAML validated by `Recipe` (unknown keys are errors). Its `hyperparameters_model` names a pydantic
model in a light module (no keras import) so that CLI overrides are checked here, before anything starts, with
the same model the job validates against inside the container.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    PydanticUserError,
    RootModel,
    ValidationError,
    field_validator,
    model_validator,
)

from launcher.errors import UserError, format_validation_error, one_line
from launcher.recipe_yaml import YAMLTooComplex, load_bounded

MAX_RECIPE_BYTES = 1_000_000  # a recipe is a few lines; refuse anything that could be a YAML bomb
BackendName = Literal["local", "docker", "modelarts", "volcano"]
_IMPORT_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class RecipeError(UserError):
    """The recipe file or its hyperparameters are wrong."""


class Resources(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: BackendName = "local"
    device: str = Field("cpu", description="cpu, gpu:0,1 / gpu:all, ascend:0,1")
    count: PositiveInt = Field(1, description="processes (cards) per node")
    nodes: PositiveInt = 1
    image: str | None = Field(None, description="container image for docker/modelarts/volcano")


class LegacyScripts(BaseModel):
    """A ModelZoo-style code dir run unchanged: `bash <script> --data_path=... --output_path=...`."""

    model_config = ConfigDict(extra="forbid")

    full: str = Field("test/train_full_1p.sh", description="accuracy run, relative to the code dir")
    perf: str = Field("test/train_performance_1p.sh", description="performance run")


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    description: str = ""
    trainer: str | None = Field(None, description="module:function called as fn(hyperparameters, job_environment)")
    hyperparameters_model: str | None = Field(
        None, description="module:Class, a pydantic model of the trainer's hyperparameters"
    )
    legacy: LegacyScripts | None = Field(None, description="instead of a trainer: ModelZoo test/*.sh scripts")
    hyperparameters: dict[str, Any] = Field(default_factory=dict, description="recipe defaults over the model's")
    perf_hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description="applied over `hyperparameters` for a performance run (a short one)"
    )
    data_url: str
    output_url: str = Field(description="train_url; '{job_id}' is replaced by the job id")
    demo_data: Path | None = Field(None, description="folder (relative to the recipe) that seeds an empty embedded store")
    resources: Resources = Field(default_factory=Resources)

    @field_validator("trainer", "hyperparameters_model")
    @classmethod
    def _import_ref(cls, value: str | None) -> str | None:
        if value is not None and not _IMPORT_REF.match(value):
            raise ValueError(f"expected 'package.module:name', got {value!r}")
        return value

    @model_validator(mode="after")
    def _trainer_or_legacy(self) -> Recipe:
        has_trainer = self.trainer is not None and self.hyperparameters_model is not None
        if self.legacy is None and not has_trainer:
            raise ValueError("give `trainer` and `hyperparameters_model`, or `legacy` scripts")
        if self.legacy is not None and (self.trainer or self.hyperparameters_model):
            raise ValueError("`legacy` scripts replace `trainer` and `hyperparameters_model`: give one or the other")
        return self

    def hyperparameter_values(self, perf: bool = False) -> dict[str, Any]:
        """Recipe-level values: `hyperparameters`, then `perf_hyperparameters` for a performance run."""
        return {**self.hyperparameters, **(self.perf_hyperparameters if perf else {})}


def _yaml_error_line(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"{where}{problem}"


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file; every problem becomes a one-line RecipeError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe file not found: {path}")
    if path.stat().st_size > MAX_RECIPE_BYTES:
        raise RecipeError(f"{path}: recipe file is larger than {MAX_RECIPE_BYTES} bytes")
    try:
        document = load_bounded(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:  # also refuses !!python/object tags, alias bombs and deep nesting
        what = "YAML refused" if isinstance(error, YAMLTooComplex) else "malformed YAML"
        raise RecipeError(f"{path}: {what} at {_yaml_error_line(error)}") from None
    except UnicodeDecodeError:
        raise RecipeError(f"{path}: not UTF-8 text") from None
    if not isinstance(document, dict):
        raise RecipeError(f"{path}: expected a mapping of recipe keys, got {type(document).__name__}")
    try:
        recipe = Recipe.model_validate(document)
    except ValidationError as error:
        raise RecipeError(f"{path}: {format_validation_error(error)}") from None
    if recipe.demo_data is not None and not recipe.demo_data.is_absolute():
        recipe = recipe.model_copy(update={"demo_data": (path.parent / recipe.demo_data).resolve()})
    return recipe


def import_ref(ref: str) -> Any:
    """Resolve 'package.module:name'."""
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise RecipeError(f"cannot import {module_name!r} (from {ref!r}): {error}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise RecipeError(f"{module_name!r} has no {attr!r} (from {ref!r})") from None


class LegacyHyperparameters(BaseModel):
    """A legacy script's arguments: any `--name=value`, passed through as given (the script validates them)."""

    model_config = ConfigDict(extra="allow")


def hyperparameters_class(recipe: Recipe) -> type[BaseModel]:
    if recipe.hyperparameters_model is None:
        return LegacyHyperparameters
    ref = recipe.hyperparameters_model
    cls = import_ref(ref)
    if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
        raise RecipeError(f"hyperparameters_model {ref} is not a pydantic model")
    problem = _not_a_recipe_model(cls)
    if problem:
        raise RecipeError(f"hyperparameters_model {ref} {problem}: give your own BaseModel subclass with named fields")
    return cls


def _not_a_recipe_model(cls: type[BaseModel]) -> str | None:
    """Why `cls` cannot hold a recipe's named hyperparameters (pydantic only says so, as a traceback, on use)."""
    if cls is BaseModel or cls.__module__.startswith("pydantic."):
        return "is pydantic's own base class"
    if issubclass(cls, RootModel):
        return "is a RootModel (one value, not named fields)"
    if cls.__pydantic_generic_metadata__["parameters"]:
        return "is a generic model with unfilled type parameters"
    if not cls.__pydantic_complete__:
        try:
            cls.model_rebuild()
        except PydanticUserError as error:
            return f"is not fully defined ({one_line(str(error).splitlines()[0])})"
    return None


def validate_hyperparameters(
    model: type[BaseModel], values: dict[str, Any], source: str = "hyperparameters"
) -> BaseModel:
    """Validate with the recipe's own model; all bad fields are named in one RecipeError."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise RecipeError(f"invalid {source}: {format_validation_error(error)}") from None


def resolve_hyperparameters(recipe: Recipe, overrides: dict[str, Any] | None = None, perf: bool = False) -> BaseModel:
    """Model defaults < recipe file (< its perf values for a performance run) < CLI overrides."""
    merged = {**recipe.hyperparameter_values(perf), **(overrides or {})}
    return validate_hyperparameters(hyperparameters_class(recipe), merged)
