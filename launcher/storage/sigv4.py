"""AWS Signature Version 4 for S3 requests (what OBS accepts too), small enough to cost microseconds.

botocore's request pipeline spends milliseconds per call, which caps a Python client near 200 small
requests/s (see shared/S3_TESTING.md); signing here is a few HMACs. Paths are signed exactly as sent:
each key segment percent-encoded once, never normalised.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import quote

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_SAFE = "-_.~"


def uri_encode_path(path: str) -> str:
    """Percent-encode a path for the URL and the canonical request alike; '/' stays a separator."""
    return quote(path, safe="/" + _SAFE)


def uri_encode(value: str) -> str:
    return quote(value, safe=_SAFE)


def canonical_query(params: dict[str, str]) -> str:
    return "&".join(f"{uri_encode(k)}={uri_encode(v)}" for k, v in sorted(params.items()))


class Signer:
    """Signs requests for one access key, region and service; the derived key is cached per day."""

    def __init__(self, access_key: str, secret_key: str, region: str, session_token: str | None = None) -> None:
        self.access_key = access_key
        self._secret = secret_key
        self.region = region
        self.session_token = session_token
        self._cached: tuple[str, bytes] = ("", b"")  # (day, key) as one value: threads sign too (bulk.py)

    def __repr__(self) -> str:  # never show the secret
        return f"Signer(access_key={self.access_key!r}, region={self.region!r})"

    def _signing_key(self, day: str) -> bytes:
        cached_day, key = self._cached
        if day != cached_day:
            key = hmac.new(("AWS4" + self._secret).encode(), day.encode(), hashlib.sha256).digest()
            for part in (self.region, "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._cached = (day, key)
        return key

    def sign(
        self,
        method: str,
        host: str,
        encoded_path: str,
        query: str,
        headers: dict[str, str],
        payload_sha256: str,
        now: datetime | None = None,
    ) -> None:
        """Add x-amz-date, x-amz-content-sha256 (and the session token) and Authorization to `headers`."""
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        headers["x-amz-date"] = stamp
        headers["x-amz-content-sha256"] = payload_sha256
        if self.session_token:
            headers["x-amz-security-token"] = self.session_token
        signed = {"host": host}
        for name, value in headers.items():
            lower = name.lower()
            if lower.startswith("x-amz-") or lower in ("content-md5", "content-type", "range"):
                signed[lower] = " ".join(str(value).split())
        names = sorted(signed)
        canonical = "\n".join(
            [
                method,
                encoded_path,
                query,
                "".join(f"{n}:{signed[n]}\n" for n in names),
                ";".join(names),
                payload_sha256,
            ]
        )
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._signing_key(day), to_sign.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
