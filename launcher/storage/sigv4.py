"""AWS Signature Version 4 for S3 requests (what OBS accepts too), small enough to cost microseconds.

botocore's request pipeline spends milliseconds per call, which caps a Python client near 200 small
requests/s (see shared/S3_TESTING.md); signing here is a few HMACs. Paths are signed exactly as sent:
each key segment percent-encoded once, never normalised. The keys come from a credential source
(credentials.py: static keys or botocore's refreshable ones), read before every signature.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import quote

from launcher.storage.credentials import CredentialSource, FrozenCredentials, StaticCredentials, current

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
    """Signs requests for one credential source, region and service; the derived key is cached per day and secret."""

    def __init__(self, credentials: CredentialSource, region: str, service: str = "s3") -> None:
        self.credentials = credentials
        self.region = region
        self.service = service
        # (day, secret, key) as one value: threads sign too (bulk.py).
        self._cached: tuple[str, str, bytes] = ("", "", b"")

    @classmethod
    def static(cls, access_key: str, secret_key: str, region: str, session_token: str | None = None) -> Signer:
        return cls(StaticCredentials(FrozenCredentials(access_key, secret_key, session_token)), region)

    def __repr__(self) -> str:  # never show the secret
        return f"Signer(credentials={self.credentials!r}, region={self.region!r})"

    def _signing_key(self, day: str, secret: str) -> bytes:
        cached_day, cached_secret, key = self._cached
        if day != cached_day or secret != cached_secret:
            key = hmac.new(("AWS4" + secret).encode(), day.encode(), hashlib.sha256).digest()
            for part in (self.region, self.service, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._cached = (day, secret, key)
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
        keys = current(self.credentials)  # refreshable credentials renew here, before they expire
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        headers["x-amz-date"] = stamp
        headers["x-amz-content-sha256"] = payload_sha256
        if keys.token:
            headers["x-amz-security-token"] = keys.token
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
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._signing_key(day, keys.secret_key), to_sign.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={keys.access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
