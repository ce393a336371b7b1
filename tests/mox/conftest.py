"""Every conformance test runs twice: on the embedded store (no endpoint) and on real SeaweedFS."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["embedded", "s3"])
def bucket_url(request: pytest.FixtureRequest) -> str:
    """`obs://<bucket>` on the embedded store or on the SeaweedFS server (fixture `s3`)."""
    if request.param == "embedded":
        return "obs://bucket"
    return f"obs://{request.getfixturevalue('s3')}"
