"""Free command-line flags: which are hyperparameters, which are resources or backend options.

One scheme for every backend and command (submit, render, restart):

    --hp.NAME VALUE         a hyperparameter of the recipe
    --<backend>.NAME VALUE  a resource (device, count, nodes, image) or an option of the chosen backend
    --NAME VALUE            either, when only one of them has that name; a name both have is refused

Values stay the text the user typed (no YAML/fire guessing: `1e3`, `True` and quotes survive into a string
field); pydantic types them from the field they land in. The entry's `--name=value` extras use the same rule.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from launcher.errors import UserError
from launcher.recipe import Resources

HP_PREFIX = "hp"
BACKEND_NAMES = ("local", "docker", "modelarts", "volcano")
RESOURCE_FLAGS = tuple(name for name in Resources.model_fields if name != "backend")  # device, count, nodes, image


class SplitFlags(BaseModel):
    hyperparameters: dict[str, Any] = {}
    resources: dict[str, Any] = {}
    options: dict[str, Any] = {}


def _flag_name(text: str) -> str:
    return text.replace("-", "_")


def parse_command_line(args: Sequence[str], own: Mapping[str, bool]) -> tuple[list[str], dict[str, Any], dict[str, str]]:
    """Split one command's argv into positionals, its own parameters and the free flags (text as typed).

    `own` maps the command's parameter names to whether they are switches (`--detach`, `--perf`). A free flag
    without a value (`--zca` at the end or before another flag) means "true"; a value may start with one
    dash (`--lr -1`)."""
    positionals: list[str] = []
    params: dict[str, Any] = {}
    free: dict[str, str] = {}
    items = list(args)
    while items:
        token = items.pop(0)
        if token == "--":
            positionals.extend(items)
            break
        if not token.startswith("--"):
            positionals.append(token)
            continue
        name, eq, value = token[2:].partition("=")
        name = _flag_name(name)
        if not name:
            raise UserError(f"malformed flag {token!r}")
        takes_value = not own.get(name, False)
        if not eq and takes_value and items and not items[0].startswith("--"):
            value = items.pop(0)
        elif not eq:
            if name in own and takes_value:
                raise UserError(f"--{name} needs a value")
            value = "true"
        if name in own:
            params[name] = _switch(name, value) if own[name] else value
        else:
            if name in free:
                raise UserError(f"--{name} given twice")
            free[name] = value
    return positionals, params, free


def _switch(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise UserError(f"--{name} is a switch: give it alone, or --{name}=false")


def split_flags(
    flags: Mapping[str, Any], backend: str, options_model: type[BaseModel], hyperparameter_names: frozenset[str]
) -> SplitFlags:
    """Place each free flag; one UserError line for a flag that could mean two things or nothing here."""
    out = SplitFlags()
    option_names = frozenset(options_model.model_fields)
    for key, value in flags.items():
        key = _flag_name(key)
        prefix, dot, name = key.partition(".")
        if dot and not (prefix and name and "." not in name):
            raise UserError(f"malformed flag --{key}: write --{HP_PREFIX}.NAME, --{backend}.NAME or --NAME")
        if dot:
            if prefix == HP_PREFIX:
                out.hyperparameters[name] = value
            elif prefix == backend:
                if name in RESOURCE_FLAGS:
                    out.resources[name] = value
                elif name in option_names:
                    out.options[name] = value
                else:
                    raise UserError(
                        f"--{key}: {backend} has no resource or option {name!r} (see `launcher submit RECIPE "
                        f"--backend {backend} --help`)"
                    )
            elif prefix in BACKEND_NAMES:
                raise UserError(f"--{key} is a {prefix} option, but this job runs on the {backend} backend")
            else:
                raise UserError(f"--{key}: unknown prefix {prefix!r}; use --{HP_PREFIX}.NAME or --{backend}.NAME")
            continue
        kind = "resource" if key in RESOURCE_FLAGS else "option" if key in option_names else None
        if kind and key in hyperparameter_names:
            raise UserError(
                f"--{key} is both a {backend} {kind} and a hyperparameter: write --{HP_PREFIX}.{key} VALUE for the "
                f"hyperparameter or --{backend}.{key} VALUE for the {backend} {kind}"
            )
        if kind == "resource":
            out.resources[key] = value
        elif kind == "option":
            out.options[key] = value
        else:  # unknown names too: the recipe's model names them in its error
            out.hyperparameters[key] = value
    return out


def allows(annotation: Any, kind: type) -> bool:
    if annotation is kind:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return any(allows(a, kind) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return any(isinstance(a, kind) for a in typing.get_args(annotation))
    return False


def typed_text(field: FieldInfo | None, value: Any) -> Any:
    """The typed text a field should see: JSON lists/objects for structured fields, `null` for optional
    non-text ones; everything else as typed (pydantic's lax mode turns '3' into 3 and 'true' into True)."""
    if not isinstance(value, str) or field is None or allows(field.annotation, str):
        return value
    stripped = value.strip()
    if stripped in ("null", "None") and allows(field.annotation, type(None)):
        return None
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(stripped)
        except ValueError:
            return value
    return value


def typed_values(model: type[BaseModel], values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: typed_text(model.model_fields.get(k), v) for k, v in values.items()}
