"""Help tables from pydantic models: a recipe's hyperparameters, a backend's options (name, type, default, text).

Used by `launcher submit|render RECIPE --help` and by the entry's `--help`, so both show the same table.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined


def type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Literal:
        return "|".join(str(a) for a in typing.get_args(annotation))
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or str(annotation)
    return re.sub(r"\b(typing|pathlib|collections\.abc)\.", "", text).replace("NoneType", "None")


def _shown(value: Any) -> str:
    if value is PydanticUndefined:
        return "(required)"
    if isinstance(value, str | Path):
        return str(value)
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)


def field_rows(model: type[BaseModel], defaults: Mapping[str, Any] | None = None) -> list[tuple[str, str, str, str]]:
    """(name, type, default, description) per field; `defaults` (e.g. the recipe's own values) win."""
    rows = []
    for name, field in model.model_fields.items():
        if defaults and name in defaults:
            default = defaults[name]
        elif field.default_factory is not None:
            default = field.default_factory()  # type: ignore[call-arg]
        else:
            default = field.default
        rows.append((name, type_name(field.annotation), _shown(default), field.description or ""))
    return rows


def format_rows(rows: list[tuple[str, str, str, str]], indent: str = "  ") -> str:
    if not rows:
        return f"{indent}(none)"
    widths = [min(28, max(len(row[i]) for row in rows)) for i in range(3)]
    lines = []
    for name, kind, default, text in rows:
        lines.append(f"{indent}{name:<{widths[0]}}  {kind:<{widths[1]}}  {default:<{widths[2]}}  {text}".rstrip())
    return "\n".join(lines)
