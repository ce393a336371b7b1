"""Storage URLs: `obs://bucket/key`, `s3://bucket/key`, `file:///path` and plain local paths.

A key is checked before it is used to name anything: no NUL byte, not absolute, no `.` or `..` segment.
That one rule keeps a listed key such as `../../etc/x` from ever writing outside its target folder, on disk
(where the OS would resolve `..`) and on a server (where some S3 servers and URL libraries normalise it).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import unquote

from launcher.storage.errors import InvalidURL, UnsafeKey

OBJECT_SCHEMES = {"obs": "obs", "s3": "s3", "s3a": "s3", "s3n": "s3"}
# S3/OBS bucket names (lenient: legacy names with capitals/underscores exist); never `.`/`..` or a slash.
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


def check_key(key: str, *, what: str = "key") -> str:
    """Return `key` if it is safe to use below a folder or prefix; raise UnsafeKey otherwise."""
    if "\x00" in key:
        raise UnsafeKey(f"refused {what} {key!r}: it contains a NUL byte")
    if key.startswith("/"):
        raise UnsafeKey(f"refused {what} {key!r}: it is absolute (starts with '/')")
    for part in key.split("/"):
        if part in (".", ".."):
            raise UnsafeKey(
                f"refused {what} {key!r}: it contains a '{part}' segment that could leave the target folder"
            )
    return key


def join_key(prefix: str, rel: str) -> str:
    """`prefix` + `/` + `rel`, with `rel` checked and no doubled slash."""
    check_key(rel)
    if not prefix:
        return rel
    return prefix if not rel else prefix.rstrip("/") + "/" + rel


@dataclass(frozen=True, slots=True)
class StorageURL:
    """A parsed location. For `file`, `bucket` is empty and `key` is an absolute local path."""

    scheme: str  # "file", "obs" or "s3"
    bucket: str
    key: str

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"

    @property
    def path(self) -> str:
        if not self.is_local:
            raise InvalidURL(f"{self} is not a local path")
        return self.key

    def join(self, rel: str) -> StorageURL:
        """The URL of `rel` below this one (checked: `rel` cannot climb out)."""
        check_key(rel)
        if self.is_local:
            return StorageURL("file", "", os.path.join(self.key, rel) if rel else self.key)
        return StorageURL(self.scheme, self.bucket, join_key(self.key, rel))

    @property
    def name(self) -> str:
        return self.key.rstrip("/").rsplit("/", 1)[-1]

    def __str__(self) -> str:
        if self.is_local:
            return self.key
        return f"{self.scheme}://{self.bucket}/{self.key}"


def parse_url(text: str | os.PathLike[str]) -> StorageURL:
    """Parse a user-given location; relative local paths become absolute."""
    raw = os.fspath(text)
    if not raw:
        raise InvalidURL("empty path or URL")
    if "\x00" in raw:
        raise UnsafeKey(f"refused {raw!r}: it contains a NUL byte")
    if "://" not in raw:
        return StorageURL("file", "", _local(raw))
    scheme, rest = raw.split("://", 1)
    scheme = scheme.lower()
    if scheme == "file":
        # file:///abs/path or file://localhost/abs/path; anything else after file:// is taken as a path.
        if rest.startswith("localhost/"):
            rest = rest[len("localhost") :]
        return StorageURL("file", "", _local(unquote(rest)))
    if scheme not in OBJECT_SCHEMES:
        raise InvalidURL(f"unsupported URL scheme {scheme!r} in {raw!r}: use obs://, s3://, file:// or a local path")
    bucket, _, key = rest.partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise InvalidURL(f"invalid bucket name {bucket!r} in {raw!r}")
    # A trailing slash is kept: `obs://b/dir/` says "the folder", which matters for cp.
    if key:
        check_key(key.rstrip("/") or key, what=f"key in {raw}")
    return StorageURL(OBJECT_SCHEMES[scheme], bucket, key)


def _local(path: str) -> str:
    expanded = os.path.expanduser(path)
    trailing = expanded.endswith(os.sep) and len(expanded) > 1
    absolute = os.path.abspath(expanded)
    return absolute + os.sep if trailing else absolute
