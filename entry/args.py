"""The entry scripts' arguments: ModelArts' own (`--data_url`, `--train_url`), ours, and pass-through extras."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from launcher.errors import UserError

# ModelArts' defaults for the two channels (shared/MODELARTS.md).
DEFAULT_DATA_URL = "/home/ma-user/modelarts/inputs/data_url_0"
DEFAULT_TRAIN_URL = "/home/ma-user/modelarts/outputs/train_url_0/"


class BootArgs(BaseModel):
    data_url: str
    train_url: str
    recipe: Path | None  # None: a ModelZoo code dir run as-is (test/train_full_1p.sh)
    hyperparameters: dict[str, Any]
    overrides: dict[str, Any]  # `--name=value` extras the platform passes as job parameters
    push_interval: float
    push_attempts: int  # tries of the final push before the job counts as failed (EXIT_INFRA)
    stop_grace: float


def json_or_text(value: str) -> Any:
    """Platform parameters arrive as text: '2' -> 2, 'false' -> False, anything else stays a string."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def parse_extras(extras: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    items = list(extras)
    while items:
        item = items.pop(0)
        if not item.startswith("--") or item == "--":
            continue
        name, eq, value = item[2:].partition("=")
        if not eq:
            value = items.pop(0) if items and not items[0].startswith("--") else "true"
        out[name.replace("-", "_")] = json_or_text(value)
    return out


def parse_args(argv: Sequence[str]) -> BootArgs:
    parser = argparse.ArgumentParser(description="launcher entry: sync data in, train, push outputs", exit_on_error=False)
    parser.add_argument("--data_url", default=DEFAULT_DATA_URL)
    parser.add_argument("--train_url", default=DEFAULT_TRAIN_URL)
    parser.add_argument("--recipe", default=None, help="recipe YAML, relative to the code dir")
    parser.add_argument("--hyperparameters", default="{}", help="JSON document, or @file.json")
    parser.add_argument("--push_interval", type=float, default=60.0, help="seconds between pushes of outputs")
    parser.add_argument(
        "--push_attempts", type=int, default=3, help="tries of the final push (backoff between) before the job fails"
    )
    parser.add_argument("--stop_grace", type=float, default=20.0, help="seconds the trainer gets after SIGTERM")
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
