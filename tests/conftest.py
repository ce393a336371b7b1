"""Every test gets its own LAUNCHER_HOME and an environment with no object-store endpoint or credentials,
so the embedded store is the default and nothing leaks between tests or from the developer's machine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

STORAGE_ENV = (
    "S3_ENDPOINT", "S3_USE_HTTPS", "S3_VERIFY_SSL", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_PROFILE",
)


@pytest.fixture(autouse=True)
def launcher_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "launcher-home"
    monkeypatch.setenv("LAUNCHER_HOME", str(home))
    for name in STORAGE_ENV:
        monkeypatch.delenv(name, raising=False)
    yield home
