"""Errors a user can act on, and how they are put in one line. The CLI prints them as one line and exits with
`exit_code`. Imports nothing heavy: the entry (inside the job) uses it too, without the recipe layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class UserError(Exception):
    """Bad input from the user (recipe, override, URL, credentials): exit code 2, no traceback."""

    exit_code = 2


class JobNotFound(UserError):
    """No job record with that id."""


def format_validation_error(error: ValidationError, prefix: str = "") -> str:
    """Every bad field in one line: `epochs: Input should be a valid integer (got 'two'); ...`."""
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif "input" in item and not isinstance(item["input"], dict | list):
            message += f" (got {item['input']!r})"
        parts.append(f"{prefix}{field}: {message}")
    return one_line("; ".join(parts))


def one_line(text: str) -> str:
    """Control characters (a key named '\\n', say) shown escaped, so an error stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
