"""Symbolic links: deletes remove the link, never its target; uploads never follow a link out of the source
folder unless asked (--follow_symlinks), never read /proc, and survive loops."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from launcher import storage
from launcher.storage.cli import DataCommands
from launcher.storage.errors import StorageError, TransferFailed
from tests.storage.helpers import read_tree, write_tree

IMPORTANT = {"a.txt": b"one", "b.txt": b"two", "deep/c.txt": b"three"}


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    found: list[str] = []
    sink = logger.add(lambda m: found.append(str(m).rstrip("\n")), level="WARNING", format="{message}")
    yield found
    logger.remove(sink)


def make_victims(root: Path) -> None:
    write_tree(root / "important", IMPORTANT)
    (root / "keep.txt").write_bytes(b"keep me")


def assert_victims_intact(root: Path) -> None:
    assert read_tree(root / "important") == IMPORTANT
    assert (root / "keep.txt").read_bytes() == b"keep me"


@pytest.mark.parametrize("where", ["embedded", "s3"])
def test_sync_delete_removes_links_never_their_targets(where: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    bucket = request.getfixturevalue("s3") if where == "s3" else "bucket"
    make_victims(tmp_path)
    storage.write_bytes(f"s3://{bucket}/src/wanted.txt", b"wanted")
    out = tmp_path / "out"
    out.mkdir()
    (out / "linked").symlink_to("../important")
    (out / "filelink").symlink_to(tmp_path / "keep.txt")
    (out / "dangling").symlink_to(tmp_path / "nowhere")

    DataCommands().sync(f"s3://{bucket}/src", str(out), delete=True)

    assert_victims_intact(tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["wanted.txt"]


def test_rm_recursive_removes_links_never_their_targets(tmp_path: Path) -> None:
    make_victims(tmp_path)
    folder = tmp_path / "dir"
    write_tree(folder, {"own.txt": b"mine", "sub/own2.txt": b"mine too"})
    (folder / "link").symlink_to("../important")
    (folder / "sub" / "filelink").symlink_to(tmp_path / "keep.txt")
    (tmp_path / "toplink").symlink_to("important")

    assert storage.rm(str(tmp_path / "toplink"), recursive=True) == 1  # the link named itself: the link only
    assert not (tmp_path / "toplink").exists() and not (tmp_path / "toplink").is_symlink()
    assert storage.rm(str(folder), recursive=True) == 4
    assert not folder.exists()
    assert_victims_intact(tmp_path)


def make_source(root: Path) -> Path:
    """A folder with every kind of link; `secret.txt` and /etc are outside it."""
    src = root / "src"
    write_tree(src, {"b.txt": b"b", "sub/c.txt": b"c"})
    (root / "secret.txt").write_bytes(b"outside the tree")
    (src / "env").symlink_to("/proc/self/environ")
    (src / "etc").symlink_to("/etc")
    (src / "outside").symlink_to("../secret.txt")
    (src / "loop").symlink_to(".")
    (src / "sub" / "up").symlink_to("..")
    (src / "alias").symlink_to("sub")
    (src / "same.txt").symlink_to("b.txt")
    (src / "broken").symlink_to("missing")
    return src


def test_upload_skips_links_out_of_the_tree_with_one_warning_each(
    s3: str, tmp_path: Path, warnings: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_ACCESS_KEY_FOR_TEST", "must-never-be-uploaded")
    src = make_source(tmp_path)

    report = storage.sync(str(src), f"s3://{s3}/up")  # the defaults: what job pushes and code uploads get

    uploaded = sorted(u.rsplit("/up/", 1)[1] for u in storage.ls(f"s3://{s3}/up", recursive=True))
    assert uploaded == ["alias/c.txt", "b.txt", "same.txt", "sub/c.txt"]
    assert report.copied == 4 and report.failed == 0
    for name, why in [
        ("env", "never uploaded"),
        ("etc", "outside the folder"),
        ("outside", "outside the folder"),
        ("loop", "loop"),
        ("sub/up", "loop"),
        ("alias/up", "loop"),
        ("broken", "broken"),
    ]:
        assert sum(f"symbolic link {name}" in w and why in w for w in warnings) == 1, (name, warnings)
    assert len(warnings) == 7
    warnings.clear()
    assert storage.sync(str(src), f"s3://{s3}/up").skipped == 4  # a job's next push: no repeated warnings
    assert warnings == []


def test_follow_symlinks_opts_in_but_never_reads_proc(s3: str, tmp_path: Path, warnings: list[str]) -> None:
    src = tmp_path / "src"
    write_tree(src, {"b.txt": b"b"})
    (tmp_path / "secret.txt").write_bytes(b"outside the tree")
    write_tree(tmp_path / "shared", {"lib.txt": b"shared lib"})
    (src / "outside").symlink_to("../secret.txt")
    (src / "shared").symlink_to("../shared")
    (src / "env").symlink_to("/proc/self/environ")
    (src / "loop").symlink_to("..")

    DataCommands().cp(str(src), f"s3://{s3}/all", recursive=True, follow_symlinks=True)

    storage.sync(f"s3://{s3}/all", str(tmp_path / "back"))
    assert read_tree(tmp_path / "back") == {"b.txt": b"b", "outside": b"outside the tree", "shared/lib.txt": b"shared lib"}
    assert any("env" in w and "never uploaded" in w for w in warnings)
    assert sum("symbolic link loop" in w and "it is a loop" in w for w in warnings) == 1


@pytest.mark.parametrize("follow", [False, True])
def test_a_link_to_proc_self_environ_named_directly_is_refused(follow: bool, tmp_path: Path) -> None:
    (tmp_path / "env").symlink_to("/proc/self/environ")
    with pytest.raises(StorageError, match="never uploaded"):
        storage.copy(str(tmp_path / "env"), "obs://bucket/env", follow_symlinks=follow)
    with pytest.raises(StorageError, match="never uploaded"):
        storage.sync("/proc/self", "obs://bucket/self", follow_symlinks=follow)
    assert not storage.exists("obs://bucket/env") and not storage.exists("obs://bucket/self")


def test_a_download_never_writes_through_a_link_in_the_destination(tmp_path: Path) -> None:
    make_victims(tmp_path)
    storage.write_bytes("obs://bucket/d/linked/a.txt", b"attacker")
    storage.write_bytes("obs://bucket/d/fine.txt", b"fine")
    out = tmp_path / "out"
    out.mkdir()
    (out / "linked").symlink_to("../important")

    with pytest.raises(TransferFailed, match="symbolic link") as info:
        storage.sync("obs://bucket/d", str(out), delete=True)

    assert info.value.exit_code == 2  # the user must remove the link: a re-run alone will not help
    assert_victims_intact(tmp_path)
    assert (out / "fine.txt").read_bytes() == b"fine" and (out / "linked").is_symlink()


def test_a_download_may_write_through_a_link_that_stays_inside_the_destination(tmp_path: Path) -> None:
    storage.write_bytes("obs://bucket/i/alias/c.txt", b"c")
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "alias").symlink_to("sub")
    storage.sync("obs://bucket/i", str(out))
    assert (out / "sub" / "c.txt").read_bytes() == b"c" and (out / "alias").is_symlink()


def test_a_link_at_the_destination_of_a_file_is_replaced_not_written_through(tmp_path: Path) -> None:
    make_victims(tmp_path)
    storage.write_bytes("obs://bucket/f/keep.txt", b"new content")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").symlink_to(tmp_path / "keep.txt")

    storage.sync("obs://bucket/f", str(out))

    assert_victims_intact(tmp_path)
    assert not (out / "keep.txt").is_symlink() and (out / "keep.txt").read_bytes() == b"new content"
    assert os.listdir(out) == ["keep.txt"]
