"""The sync engine end to end, against the embedded store and a real SeaweedFS S3 server alike."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from launcher import storage
from launcher.storage.errors import CredentialsError, NotFound, StorageError, TransferFailed
from tests.storage.helpers import read_tree, write_tree

TREE = {
    "empty.bin": b"",
    "top.txt": b"hello\n",
    "sp ace/ünï cødé +&=?.txt": "grüße".encode(),
    "a/b/c/d/e/f/g/h/i/j/deep.bin": os.urandom(3000),
    "data/part-0001.bin": os.urandom(70_000),
    "data/part-0002.bin": os.urandom(1),
}


@pytest.fixture(params=["embedded", "s3"])
def remote(request: pytest.FixtureRequest) -> str:
    """A folder URL in the embedded store or on SeaweedFS: the same engine must behave the same."""
    if request.param == "embedded":
        return "obs://bucket/run/data"
    bucket = request.getfixturevalue("s3")
    return f"s3://{bucket}/run/data"


def test_round_trip_is_byte_for_byte(remote: str, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", TREE)
    up = storage.sync(str(tmp_path / "src"), remote)
    assert (up.copied, up.failed, up.bytes) == (len(TREE), 0, sum(map(len, TREE.values())))
    down = storage.sync(remote, str(tmp_path / "back"))
    assert down.copied == len(TREE)
    assert read_tree(tmp_path / "back") == TREE
    assert sorted(storage.ls(remote, recursive=True)) == sorted(f"{remote}/{k}" for k in TREE)


def test_second_sync_sends_nothing_and_changes_are_found(remote: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_tree(src, TREE)
    storage.sync(str(src), remote)
    again = storage.sync(str(src), remote)
    assert (again.copied, again.skipped, again.bytes) == (0, len(TREE), 0)

    (src / "top.txt").write_bytes(b"hello, longer\n")  # size changed
    changed = storage.sync(str(src), remote)
    assert (changed.copied, changed.skipped) == (1, len(TREE) - 1)
    assert storage.read_bytes(f"{remote}/top.txt") == b"hello, longer\n"

    storage.sync(remote, str(tmp_path / "back"))
    down_again = storage.sync(remote, str(tmp_path / "back"))
    assert (down_again.copied, down_again.skipped) == (0, len(TREE))


def test_newer_source_with_same_size_is_sent(remote: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_tree(src, {"f.txt": b"aaaa"})
    old = time.time() - 3600
    os.utime(src / "f.txt", (old, old))
    storage.sync(str(src), remote)
    (src / "f.txt").write_bytes(b"bbbb")  # same size, edited after the upload
    later = time.time() + 5  # stored times have 1 s resolution: an edit in the upload's own second needs checksum
    os.utime(src / "f.txt", (later, later))
    assert storage.sync(str(src), remote).copied == 1
    assert storage.read_bytes(f"{remote}/f.txt") == b"bbbb"


def test_checksum_finds_same_size_same_time_edits(remote: str, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"f.txt": b"aaaa", "g.txt": b"gggg"})
    storage.sync(str(tmp_path / "src"), remote)
    back = tmp_path / "back"
    storage.sync(remote, str(back))
    stamp = os.stat(back / "f.txt").st_mtime
    (back / "f.txt").write_bytes(b"XXXX")  # edited locally, size and mtime restored
    os.utime(back / "f.txt", (stamp, stamp))
    assert storage.sync(remote, str(back)).copied == 0
    fixed = storage.sync(remote, str(back), checksum=True)
    assert (fixed.copied, fixed.skipped) == (1, 1)
    assert (back / "f.txt").read_bytes() == b"aaaa"


def test_delete_removes_extras_only_when_asked(remote: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_tree(src, TREE)
    storage.sync(str(src), remote)
    (src / "top.txt").unlink()
    kept = storage.sync(str(src), remote)
    assert kept.deleted == 0 and storage.exists(f"{remote}/top.txt")
    mirrored = storage.sync(str(src), remote, delete=True)
    assert mirrored.deleted == 1 and not storage.exists(f"{remote}/top.txt")

    back = tmp_path / "back"
    write_tree(back, {"stale/old.txt": b"x"})
    storage.sync(remote, str(back), delete=True)
    assert read_tree(back) == {k: v for k, v in TREE.items() if k != "top.txt"}


def test_include_exclude_globs(remote: str, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", TREE)
    report = storage.sync(str(tmp_path / "src"), remote, include=["*.bin"], exclude=["data/part-0002*"])
    assert sorted(storage.ls(remote, recursive=True)) == sorted(
        f"{remote}/{k}" for k in ("empty.bin", "a/b/c/d/e/f/g/h/i/j/deep.bin", "data/part-0001.bin")
    )
    assert report.copied == 3
    # Files outside the filter are neither copied nor deleted, even with delete=True.
    write_tree(tmp_path / "back", {"notes.md": b"mine"})
    storage.sync(remote, str(tmp_path / "back"), delete=True, include=["*.bin"])
    assert (tmp_path / "back" / "notes.md").read_bytes() == b"mine"


def test_dry_run_lists_changes_and_touches_nothing(remote: str, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.txt": b"1", "b.txt": b"22"})
    storage.sync(str(tmp_path / "src"), remote)
    storage.write_bytes(f"{remote}/extra.txt", b"x")
    (tmp_path / "src" / "c.txt").write_bytes(b"333")
    plan = storage.sync(str(tmp_path / "src"), remote, delete=True, dry_run=True)
    assert (plan.copied, plan.skipped, plan.deleted, plan.bytes) == (1, 2, 1, 3)
    assert any(line.startswith("copy ") and line.endswith("c.txt (3 B)") for line in plan.planned)
    assert f"delete {remote}/extra.txt" in plan.planned
    assert storage.exists(f"{remote}/extra.txt") and not storage.exists(f"{remote}/c.txt")


def test_store_to_store_and_single_files(remote: str, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", TREE)
    storage.sync(str(tmp_path / "src"), remote)
    twin = remote.replace("/run/data", "/copy")
    assert storage.sync(remote, twin).copied == len(TREE)
    assert storage.sync(remote, twin).copied == 0
    storage.sync(twin, str(tmp_path / "twin"))
    assert read_tree(tmp_path / "twin") == TREE

    storage.copy(f"{remote}/top.txt", str(tmp_path / "single") + "/")
    assert (tmp_path / "single" / "top.txt").read_bytes() == TREE["top.txt"]
    storage.copy(str(tmp_path / "src" / "top.txt"), f"{remote}/renamed.txt")
    assert storage.read_bytes(f"{remote}/renamed.txt") == TREE["top.txt"]


def test_object_functions(remote: str) -> None:
    url = f"{remote}/metrics/m.json"
    assert not storage.exists(url)
    storage.write_bytes(url, b'{"acc": 1}')
    assert storage.exists(url) and storage.exists(f"{remote}/metrics")
    assert storage.read_bytes(url) == b'{"acc": 1}'
    assert storage.stat(url) is not None and storage.stat(url).size == 10  # type: ignore[union-attr]
    assert storage.ls(remote) == [f"{remote}/metrics/"]
    assert storage.du(remote) == (1, 10)
    with pytest.raises(StorageError, match="recursive"):
        storage.rm(f"{remote}/metrics")
    assert storage.rm(f"{remote}/metrics", recursive=True) == 1
    assert not storage.exists(url)
    with pytest.raises(NotFound):
        storage.read_bytes(url)


def test_missing_source_is_a_clear_error(remote: str, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="nothing at"):
        storage.sync(f"{remote}/absent", str(tmp_path / "x"))


def test_temp_files_are_invisible_and_cleaned_after_a_crash(tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    write_tree(tmp_path / "src", {"a.txt": b"a"})
    dead_pid = 2**22 + 12345  # above pid_max on Linux: no such process
    write_tree(dst, {f".a.txt.launcher-part-{dead_pid}-abcd": b"partial"})
    report = storage.sync(str(tmp_path / "src"), str(dst))
    assert report.copied == 1
    assert sorted(os.listdir(dst)) == ["a.txt"]


@pytest.mark.slow
def test_100mb_multipart_round_trip(s3: str, tmp_path: Path) -> None:
    payload = os.urandom(100 << 20)
    (tmp_path / "big.bin").write_bytes(payload)
    url = f"s3://{s3}/big/big.bin"
    storage.copy(str(tmp_path / "big.bin"), url)
    assert storage.stat(url).etag.endswith("-7")  # type: ignore[union-attr]  # 16 MiB parts
    storage.copy(url, str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == payload
    assert storage.sync(f"s3://{s3}/big", str(tmp_path / "again"), checksum=True).copied == 1
    assert storage.sync(f"s3://{s3}/big", str(tmp_path / "again"), checksum=True).skipped == 1


def test_wrong_credentials_are_a_clear_error_without_the_secret(
    s3: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SECRET_ACCESS_KEY", "not-the-right-secret-42")
    write_tree(tmp_path / "src", {"a.txt": b"a"})
    with pytest.raises(CredentialsError) as info:
        storage.sync(str(tmp_path / "src"), f"s3://{s3}/x")
    message = str(info.value)
    assert "SignatureDoesNotMatch" in message or "refused" in message
    assert "not-the-right-secret-42" not in message and "\n" not in message
    monkeypatch.setenv("ACCESS_KEY_ID", "nobody")
    with pytest.raises(CredentialsError, match="InvalidAccessKeyId"):
        storage.ls(f"s3://{s3}/")


def test_unknown_bucket_is_named(s3: str, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="bucket 'no-such-bucket-xyz' does not exist"):
        storage.sync("s3://no-such-bucket-xyz/data", str(tmp_path))


def test_failed_files_are_reported_after_the_rest_completes(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"ok/a.txt": b"a", "ok/b.txt": b"b", "blocked/c.txt": b"c"})
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "blocked").write_text("a file where a folder must go")
    with pytest.raises(TransferFailed) as info:
        storage.sync(str(tmp_path / "src"), str(dst))
    report = info.value.report
    assert isinstance(report, storage.SyncReport)
    assert (report.copied, report.failed) == (2, 1)
    assert "blocked/c.txt" in str(info.value) and "\n" not in str(info.value)
    assert read_tree(dst / "ok") == {"a.txt": b"a", "b.txt": b"b"}


def test_blocking_api_works_inside_a_running_event_loop(tmp_path: Path) -> None:
    import asyncio

    async def notebook_cell() -> bytes:
        storage.write_bytes("obs://bucket/nb/x.txt", b"from a loop")
        return storage.read_bytes("obs://bucket/nb/x.txt")

    assert asyncio.run(notebook_cell()) == b"from a loop"


def test_server_side_copy_in_parts(s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from launcher.storage import transfer

    monkeypatch.setattr(transfer, "MAX_SINGLE_COPY", 8 << 20)  # as if the object were over 5 GiB
    payload = os.urandom(20 << 20)
    (tmp_path / "obj.bin").write_bytes(payload)
    storage.copy(str(tmp_path / "obj.bin"), f"s3://{s3}/a/obj.bin")
    storage.copy(f"s3://{s3}/a/obj.bin", f"s3://{s3}/b/obj.bin")
    assert storage.stat(f"s3://{s3}/b/obj.bin").etag.endswith("-2")  # type: ignore[union-attr]
    assert storage.read_bytes(f"s3://{s3}/b/obj.bin") == payload


def test_edit_in_the_second_of_the_upload_is_not_missed(s3: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_tree(src, {"metrics.json": b'{"acc": 0.1}', "same.txt": b"unchanged"})
    url = f"s3://{s3}/push"
    storage.sync(str(src), url)
    uploaded = storage.stat(f"{url}/metrics.json").mtime  # type: ignore[union-attr]  # whole seconds
    first_mtime = (src / "metrics.json").stat().st_mtime  # recorded on the object (x-amz-meta-mtime)
    (src / "metrics.json").write_bytes(b'{"acc": 0.9}')  # same size, rewritten in the upload's own second
    # In that second, and clearly apart from the first write's mtime (else the recorded mtime would match).
    edited = max((uploaded + 0.25, uploaded + 0.75), key=lambda t: abs(t - first_mtime))
    os.utime(src / "metrics.json", (edited, edited))
    report = storage.sync(str(src), url)
    assert (report.copied, report.skipped) == (1, 1)
    assert storage.read_bytes(f"{url}/metrics.json") == b'{"acc": 0.9}'
