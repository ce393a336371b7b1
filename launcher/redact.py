"""Keep secrets out of logs, errors and rendered requests.

Secret values are collected from the environment (by variable name) and from explicit registration (credentials
read from a profile file); `redact` replaces every occurrence with '***'. Loguru sinks and the CLI error printer
pass all text through it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

MASK = "***"
# Variable names whose values are secrets, e.g. SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, HUAWEICLOUD_SDK_SK.
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|(^|_)SK$|PRIVATE_KEY)", re.IGNORECASE)
_MIN_LEN = 4  # shorter values would mask ordinary text

_registered: set[str] = set()


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def register_secret(value: str | None) -> None:
    """Mark a value (e.g. a secret key read from a profile) as never to be shown."""
    if value and len(value) >= _MIN_LEN:
        _registered.add(value)


def secret_values(environ: Mapping[str, str] | None = None) -> set[str]:
    env = os.environ if environ is None else environ
    found = {v for k, v in env.items() if is_secret_name(k) and v and len(v) >= _MIN_LEN}
    return found | _registered


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    # Longest first, so a secret that contains another is masked whole.
    for value in sorted(secret_values(environ), key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def redact_mapping(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of an environment/mapping fit to print: secret-named entries and known secret values masked."""
    return {k: (MASK if is_secret_name(k) and v else redact(v)) for k, v in env.items()}
