"""HTTP header helpers shared by the S3 client and the stores, apart so that the stores need no HTTP client."""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

META_PREFIX = "x-amz-meta-"


def parse_http_date(value: str) -> float:
    return parsedate_to_datetime(value).timestamp()


def metadata_of(headers: Mapping[str, str]) -> dict[str, Any]:
    """User metadata (x-amz-meta-*) by lower-case name, without the prefix."""
    return {k[len(META_PREFIX) :].lower(): v for k, v in headers.items() if k.lower().startswith(META_PREFIX)}
