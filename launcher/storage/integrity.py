"""Whole-object integrity of multipart downloads, from the object's composite ETag.

S3 and OBS give a multipart object the ETag `md5(md5(part 1) + ... + md5(part N))-N`. It can be checked after a
download only when the part boundaries are known: we record the part size in `x-amz-meta-partsize` when we upload
a local file in parts (each part was sent with its Content-MD5, so the server's part ETags are content MD5s), and a
one-part object needs none. Anything else is not checked: an ETag is never taken for an MD5 blindly (server-side
copies; SSE-KMS/SSE-C objects, whose part ETags are not MD5s; SeaweedFS keeping a copied object's `-N` ETag:
/work/shared/S3_TESTING.md).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping

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
