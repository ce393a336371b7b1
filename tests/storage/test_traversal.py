"""Keys that try to climb out of the target folder are refused; the rest of the sync completes.

Real servers differ: SeaweedFS refuses to store `..` keys and strips a leading '/', AWS S3 stores them as
given. So the hostile listing comes from an in-memory Store, which drives the very same engine.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from launcher import storage
from launcher.storage.errors import TransferFailed, UnsafeKey
from launcher.storage.models import SyncOptions, SyncReport
from launcher.storage.session import Session
from launcher.storage.stores import Entry, FollowLinks, Listing, LocalStore, Store
from launcher.storage.sync_engine import SyncEngine, raise_on_failures


class MemoryStore(Store):
    """A store that lists whatever keys it is given, however hostile."""

    scheme = "mem"
    preserves_mtime = False

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def url(self, key: str) -> str:
        return f"mem://{key}"

    async def scan(self, prefix: str, *, markers: bool = False, links: FollowLinks = "never") -> Listing:
        return Listing([Entry(k, len(v), 1_700_000_000.0) for k, v in self.objects.items()])

    async def make_folder(self, key: str) -> None:
        return None

    async def list_dir(self, prefix: str) -> tuple[list[Entry], list[str]]:
        return (await self.scan(prefix)).entries, []

    async def stat(self, key: str) -> Entry | None:
        return Entry(key, len(self.objects[key]), 1_700_000_000.0) if key in self.objects else None

    async def is_folder(self, key: str) -> bool:
        return True

    async def read(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        return self.objects[key][start:end]

    async def write(self, key: str, data: bytes, mtime: float | None = None) -> None:
        self.objects[key] = data

    async def delete(self, keys: list[str]) -> dict[str, str]:
        return {}

    async def md5(self, key: str, entry: Entry, expected: str | None = None) -> str:
        return hashlib.md5(self.objects[key]).hexdigest()


def sync_listing(objects: dict[str, bytes], target: Path) -> SyncReport:
    """Sync what an in-memory store lists (however hostile its keys) into a local folder, through the engine."""

    async def run() -> SyncReport:
        async with Session() as session:
            engine = SyncEngine(session, SyncOptions(progress=False))
            return await engine.run_between(MemoryStore(dict(objects)), "", LocalStore(str(target)), "")

    return asyncio.run(run())


HOSTILE = {
    "../../escaped.txt": b"evil",
    "a/../../../escaped2.txt": b"evil",
    "/abs/escaped3.txt": b"evil",
    "nul\x00byte.txt": b"evil",
    "./dot.txt": b"evil",
    "good/one.txt": b"fine",
    "two.txt": b"fine too",
}


def test_hostile_keys_are_refused_and_the_rest_lands(tmp_path: Path) -> None:
    target = tmp_path / "sandbox" / "target"
    target.mkdir(parents=True)

    report = sync_listing(HOSTILE, target)
    with pytest.raises(TransferFailed) as info:
        raise_on_failures(report)  # type: ignore[arg-type]
    assert info.value.exit_code == 2
    assert "refused" in str(info.value)
    assert report.copied == 2 and report.failed == 5  # type: ignore[attr-defined]
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["sandbox/target/good/one.txt", "sandbox/target/two.txt"]


def test_api_refuses_traversal_in_urls(tmp_path: Path) -> None:
    for url in ("obs://bucket/../outside", "obs://bucket/a/../../b", "s3://bucket/x/\x00"):
        with pytest.raises(UnsafeKey):
            storage.write_bytes(url, b"x")
    assert not any(tmp_path.rglob("outside"))
