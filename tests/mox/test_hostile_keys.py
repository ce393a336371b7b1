"""Issue 14 item 8 and issue 15's `//` keys: keys that start with '/' or hold '//' (S3 and OBS store them;
a ModelArts train_url ends in '/' and scripts append '/' + name) never hang a listing and never fail a copy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from launcher.storage import mox
from tests.mox.hostile_s3 import HostileS3
from tests.storage.helpers import read_tree

OBJECTS = {
    "/etc/passwd": b"root",  # starts with '/'
    "out//model.ckpt": b"weights",  # train_url 'obs://b/out/' + '/model.ckpt'
    "out/log.txt": b"log",
    "//": b"",  # only separators: a folder marker, no file
    "top.txt": b"t",
}


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileS3]:
    with HostileS3("hb", OBJECTS) as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        yield server


def finishes(call: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    """Run `call` in a daemon thread; fail (instead of hanging the suite) if it spins past the timeout."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout_s)
    assert not worker.is_alive(), "the call did not finish: it spins on a key starting with '/'"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_recursive_listing_walk_and_glob_finish(hostile: HostileS3) -> None:
    listed = finishes(lambda: mox.list_directory("s3://hb", recursive=True))
    assert listed == ["etc", "etc/passwd", "out", "out/log.txt", "out/model.ckpt", "top.txt"]
    walked = finishes(lambda: list(mox.walk("s3://hb")))
    assert walked == [
        ("s3://hb", ["etc", "out"], ["top.txt"]),
        ("s3://hb/etc", [], ["passwd"]),
        ("s3://hb/out", [], ["log.txt", "model.ckpt"]),
    ]
    assert finishes(lambda: mox.glob("s3://hb/*/*.ckpt")) == ["s3://hb/out/model.ckpt"]
    assert finishes(lambda: mox.list_directory("s3://hb")) == ["out", "top.txt"]  # no empty name


def test_copy_parallel_of_a_folder_with_double_slash_keys(hostile: HostileS3, tmp_path: Path) -> None:
    finishes(lambda: mox.copy_parallel("s3://hb/out/", str(tmp_path / "got")))
    assert read_tree(tmp_path / "got") == {"model.ckpt": b"weights", "log.txt": b"log"}


def test_copy_parallel_of_the_bucket_refuses_only_the_absolute_key(hostile: HostileS3, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="refused key '/etc/passwd'"):
        finishes(lambda: mox.copy_parallel("s3://hb", str(tmp_path / "all")))
    # every other object arrived; '//' is a folder marker, not a file
    assert read_tree(tmp_path / "all") == {"out/model.ckpt": b"weights", "out/log.txt": b"log", "top.txt": b"t"}


def test_a_name_that_is_both_file_and_folder_is_a_duplicate_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """moxing documents MoxFileNameDuplicateException for a download where 'a' is a file and 'a/b' exists."""
    with HostileS3("dup", {"data/a": b"file", "data/a/b": b"below", "data/c": b"c"}) as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        clash = "holds a both as a file and as a folder"
        with pytest.raises(mox.MoxFileNameDuplicateException, match=clash) as info:
            finishes(lambda: mox.copy_parallel("s3://dup/data", str(tmp_path / "got")))
    assert isinstance(info.value, FileExistsError)
    assert read_tree(tmp_path / "got")["c"] == b"c"  # the rest was copied
