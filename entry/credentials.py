"""Storage credentials handed to the entry in a private file instead of the container's environment.

A container's environment is public to anyone who may `docker inspect` it; a read-only 0600 file mounted into it
is not. The backend names the file in LAUNCHER_CREDENTIALS_FILE (a JSON object of variable name -> value); the
entry loads it into its own environment before any storage call, so the storage profile, the trainer it starts
and mox.file find the keys where they always look, and registers every value to be masked in logs.
"""

from __future__ import annotations

import json
import os
from collections.abc import MutableMapping
from pathlib import Path

from entry.contract import ENV_CREDENTIALS_FILE
from launcher.errors import UserError
from launcher.redact import register_secret

__all__ = ["CREDENTIALS_IN_CONTAINER", "ENV_CREDENTIALS_FILE", "load_credentials"]
CREDENTIALS_IN_CONTAINER = "/run/launcher/credentials.json"


def load_credentials(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Set the file's variables in `environ` (default os.environ); returns their names. No file named: nothing."""
    env = os.environ if environ is None else environ
    path = env.get(ENV_CREDENTIALS_FILE)
    if not path:
        return []
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise UserError(f"cannot read the storage credentials file {path}: {error.strerror}") from None
    except ValueError:
        document = None
    if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
        raise UserError(f"the storage credentials file {path} is not a JSON object of variable names and values")
    for name, value in document.items():
        register_secret(value)
        env[name] = value
    return sorted(document)
