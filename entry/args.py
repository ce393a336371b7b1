"""The entry scripts' arguments: ModelArts' own (`--data_url`, `--train_url`), ours, and pass-through extras."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from launcher.errors import UserError
from launcher.flags import allows, typed_text

# ModelArts' defaults for the two channels (shared/MODELARTS.md).
DEFAULT_DATA_URL = "/home/ma-user/modelarts/inputs/data_url_0"
DEFAULT_TRAIN_URL = "/home/ma-user/modelarts/outputs/train_url_0/"


class BootArgs(BaseModel):
    data_url: str
    train_url: str
    recipe: Path | None  # None: a ModelZoo code dir run as-is (test/train_full_1p.sh)
    hyperparameters: dict[str, Any]
    overrides: dict[str, str]  # `--name=value` extras the platform passes as job parameters, as text (typed_extras)
    push_interval: float
    push_attempts: int  # tries of the final push before the job counts as failed (EXIT_INFRA)
    stop_grace: float


def json_or_text(value: str) -> Any:
    """Platform parameters arrive as text: '2' -> 2, 'false' -> False, anything else stays a string."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def typed_extras(model: type[BaseModel] | None, extras: Mapping[str, str]) -> dict[str, Any]:
    """Each extra typed by the field it lands in: a text field keeps the text as typed (`1e3`, `True`, quotes),
    except a JSON string literal, which is how the launcher sends text that looks like another type; other
    fields get launcher.flags' rule (JSON lists/objects, null), then pydantic's own conversion. Names the model
    does not have (or no model): JSON when it parses, else the text."""
    out: dict[str, Any] = {}
    for name, text in extras.items():
        field = model.model_fields.get(name) if model is not None else None
        if field is None or field.annotation is Any:
            out[name] = json_or_text(text)
        elif allows(field.annotation, str):
            decoded = json_or_text(text)
            out[name] = decoded if isinstance(decoded, str) and text.startswith('"') else text
        else:
            out[name] = typed_text(field, text)
    return out


def parse_extras(extras: Sequence[str]) -> dict[str, str]:
    """`--name=value`, `--name value` and a bare `--switch` ("true"); values stay text (see typed_extras)."""
    out: dict[str, str] = {}
    items = list(extras)
    while items:
        item = items.pop(0)
        if not item.startswith("--") or item == "--":
            continue
        name, eq, value = item[2:].partition("=")
        if not eq:
            value = items.pop(0) if items and not items[0].startswith("--") else "true"
        out[name.replace("-", "_")] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelarts_entry_acc.py / modelarts_entry_perf.py",
        description="launcher entry: sync data in, train, push outputs. Any other --NAME=VALUE is a hyperparameter.",
        exit_on_error=False,
        add_help=False,  # --help is answered before the job's log opens (help_text), not inside it
    )
    parser.add_argument("--data_url", default=DEFAULT_DATA_URL, help="input data (object-store URL or local folder)")
    parser.add_argument("--train_url", default=DEFAULT_TRAIN_URL, help="where outputs are pushed")
    parser.add_argument("--recipe", default=None, help="recipe YAML, relative to the code dir")
    parser.add_argument("--hyperparameters", default="{}", help="JSON document, or @file.json")
    parser.add_argument("--push_interval", type=float, default=60.0, help="seconds between pushes of outputs")
    parser.add_argument(
        "--push_attempts", type=int, default=3, help="tries of the final push (backoff between) before the job fails"
    )
    parser.add_argument("--stop_grace", type=float, default=20.0, help="seconds the trainer gets after SIGTERM")
    return parser


def help_requested(argv: Sequence[str]) -> bool:
    return any(a in ("-h", "--help") for a in argv)


def help_text(argv: Sequence[str]) -> str:
    """The entry's arguments and, with --recipe, the recipe's hyperparameters (one table, as `launcher submit
    RECIPE --help` shows them)."""
    from launcher.helptext import field_rows, format_rows  # only for --help
    from launcher.jobspec import locate_recipe
    from launcher.recipe import hyperparameters_class

    text = build_parser().format_help()
    known, _ = build_parser().parse_known_args([a for a in argv if a not in ("-h", "--help")])
    if known.recipe:
        recipe, _, _ = locate_recipe(known.recipe)
        model = hyperparameters_class(recipe)
        rows = field_rows(model, recipe.hyperparameter_values())
        listed = format_rows(rows) if rows else "  any --NAME=VALUE, passed to the scripts as given"
        text += f"\nhyperparameters of {recipe.name} (--NAME=VALUE):\n{listed}\n"
    return text


def parse_args(argv: Sequence[str]) -> BootArgs:
    parser = build_parser()
    try:
        known, extras = parser.parse_known_args(argv)
    except argparse.ArgumentError as error:
        raise UserError(f"entry arguments: {error}") from None
    text = known.hyperparameters
    try:
        if text.startswith("@"):
            text = Path(text[1:]).read_text(encoding="utf-8")
        document = json.loads(text)
    except OSError as error:
        raise UserError(f"--hyperparameters file {text[1:]}: {error.strerror}") from None
    except ValueError as error:
        raise UserError(f"--hyperparameters is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise UserError("--hyperparameters must be a JSON object")
    return BootArgs(
        data_url=known.data_url,
        train_url=known.train_url,
        recipe=Path(known.recipe) if known.recipe else None,
        hyperparameters=document,
        overrides=parse_extras(extras),
        push_interval=known.push_interval,
        push_attempts=max(1, known.push_attempts),
        stop_grace=known.stop_grace,
    )
