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


class StreamRedactor:
    """Masks secrets in a byte stream cut into arbitrary chunks (a pipe): a secret split across two reads is
    still masked. Holds back only the end of a chunk that could begin a secret, until the next chunk or `flush`.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self._held = b""

    def _secrets(self) -> list[bytes]:
        # Read each time: a secret registered after the stream began (a profile loaded later) is masked too.
        return sorted((v.encode() for v in secret_values(self._environ)), key=len, reverse=True)

    def feed(self, chunk: bytes) -> bytes:
        secrets = self._secrets()
        data = self._held + chunk
        for value in secrets:
            data = data.replace(value, MASK.encode())
        keep = _partial_secret_suffix(data, secrets)
        self._held = data[len(data) - keep :] if keep else b""
        return data[: len(data) - keep]

    def flush(self) -> bytes:
        data, self._held = self._held, b""
        for value in self._secrets():
            data = data.replace(value, MASK.encode())
        return data


def _partial_secret_suffix(data: bytes, secrets: list[bytes]) -> int:
    """Length of the longest end of `data` that is the beginning of some secret (0 if none)."""
    longest = 0
    for value in secrets:
        for n in range(min(len(value) - 1, len(data)), longest, -1):
            if data.endswith(value[:n]):
                longest = n
                break
    return longest
