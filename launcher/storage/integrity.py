"""Whole-object integrity of multipart downloads: from the object's whole-object CRC, else its composite ETag.

A CRC the store keeps for the whole object (checksums.py: our uploads ask for a CRC32C, AWS's own tools for a
CRC32) is checked in any ranges, at ~0.15 s of CPU per GiB. Without one, the composite ETag, at 1.75 s per GiB:

S3 and OBS give a multipart object the ETag `md5(md5(part 1) + ... + md5(part N))-N`. It can be checked after a
download only when the part boundaries are known: we record the part size in `x-amz-meta-partsize` when we upload
a local file in parts (the server checked each part against its Content-MD5 or CRC, so its part ETags are content
MD5s), and a one-part object needs none. Anything else is not checked: an ETag is never taken for an MD5 blindly
(server-side copies; SSE-KMS/SSE-C objects, whose part ETags are not MD5s; SeaweedFS keeping a copied object's
`-N` ETag: /work/shared/S3_TESTING.md).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from launcher.storage.checksums import RunningCrc, combine_all, encode, whole_object_checksum
from launcher.storage.errors import StorageError
from launcher.storage.headers import metadata_of

PART_SIZE_META = "partsize"  # x-amz-meta-partsize: bytes per part of a multipart upload of ours (the last: less)
_COMPOSITE = re.compile(r"^[0-9a-f]{32}-([1-9][0-9]{0,4})$")


class IntegrityError(StorageError):
    """Downloaded bytes differ from what the object's ETag says it holds; the file was not written."""


def is_composite(etag: str) -> bool:
    """A multipart object's ETag (`<32 hex>-N`)."""
    return _COMPOSITE.match(etag.strip('"').lower()) is not None


def _encrypted_with_other_keys(headers: Mapping[str, str]) -> bool:
    """SSE-KMS or SSE-C (S3's and OBS's names): ETags are not MD5s of the content. SSE-S3 (AES256) ETags are."""
    found = {k.lower(): v for k, v in headers.items()}
    kind = found.get("x-amz-server-side-encryption") or found.get("x-obs-server-side-encryption") or "AES256"
    customer = any(f"x-{vendor}-server-side-encryption-customer-algorithm" in found for vendor in ("amz", "obs"))
    return customer or kind.upper() != "AES256"


def checkable_part_size(etag: str, size: int, headers: Mapping[str, str]) -> int | None:
    """The part size to download `etag`'s object in, so its composite ETag can be checked; None: not checkable.

    `headers`: the object's HEAD or GET reply headers (its metadata and encryption).
    """
    match = _COMPOSITE.match(etag.strip('"').lower())
    if match is None or size <= 0 or _encrypted_with_other_keys(headers):
        return None
    parts = int(match.group(1))
    recorded = metadata_of(headers).get(PART_SIZE_META, "")
    if recorded.isdigit() and int(recorded) > 0 and math.ceil(size / int(recorded)) == parts:
        return int(recorded)
    return size if parts == 1 else None


def part_ranges(size: int, part_size: int) -> list[tuple[int, int]]:
    return [(start, min(size, start + part_size)) for start in range(0, size, part_size)]


def check_composite(url: str, etag: str, digests: list[hashlib._Hash]) -> None:
    """Raise IntegrityError naming the object unless the parts' MD5s make `etag` (the caller writes nothing)."""
    got = f"{hashlib.md5(b''.join(d.digest() for d in digests)).hexdigest()}-{len(digests)}"
    if got != etag.strip('"').lower():
        raise IntegrityError(
            f"{url}: downloaded content does not match the object's ETag {etag} (got {got}): "
            "nothing was written; re-run to download it again"
        )


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...


@dataclass(frozen=True)
class DownloadCheck:
    """How one large download is checked; the default checks nothing (no CRC, an ETag that is no MD5)."""

    crc: tuple[str, int] | None = None  # (algorithm, the whole object's CRC): any ranges will do
    part_size: int | None = None  # else the composite ETag's part size: the download must use these parts

    def hashers(self, count: int) -> list[Hasher]:
        """One running hash per range, fed in order by the range's download."""
        if self.crc is not None:
            return [RunningCrc(self.crc[0]) for _ in range(count)]
        return [hashlib.md5() for _ in range(count)] if self.part_size else []

    def verify(self, url: str, etag: str, hashers: Sequence[Hasher]) -> None:
        """Raise IntegrityError naming the object unless the ranges' hashes make what the object says it holds."""
        if self.crc is not None:
            algorithm, expected = self.crc
            got = combine_all([h for h in hashers if isinstance(h, RunningCrc)])
            if got != expected:
                raise IntegrityError(
                    f"{url}: downloaded content does not match the object's {algorithm.upper()} {encode(expected)} "
                    f"(got {encode(got)}): nothing was written; re-run to download it again"
                )
        elif self.part_size:
            check_composite(url, etag, list(hashers))  # type: ignore[arg-type]


def download_check(etag: str, size: int, headers: Mapping[str, str]) -> DownloadCheck:
    """The cheapest check the object allows, from its HEAD (sent with `x-amz-checksum-mode: ENABLED`).

    A CRC is of the content as uploaded, whatever the encryption; the ETag is an MD5 only without SSE-KMS/-C.
    """
    crc = whole_object_checksum(headers)
    if crc is not None:
        return DownloadCheck(crc=crc)
    return DownloadCheck(part_size=checkable_part_size(etag, size, headers))
