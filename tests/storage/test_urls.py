"""URL parsing and the key rule that keeps every write inside its target folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from launcher.storage.errors import InvalidURL, UnsafeKey
from launcher.storage.stores import LocalStore
from launcher.storage.urls import StorageURL, check_key, parse_url


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("obs://bucket/a/b.txt", StorageURL("obs", "bucket", "a/b.txt")),
        ("s3://bucket", StorageURL("s3", "bucket", "")),
        ("s3://bucket/dir/", StorageURL("s3", "bucket", "dir/")),
        ("s3a://bucket/k", StorageURL("s3", "bucket", "k")),
        ("OBS://bucket/k", StorageURL("obs", "bucket", "k")),
        ("obs://bucket/sp ace/ü.txt", StorageURL("obs", "bucket", "sp ace/ü.txt")),
        ("file:///tmp/x", StorageURL("file", "", "/tmp/x")),
        ("file://localhost/tmp/x", StorageURL("file", "", "/tmp/x")),
        ("/tmp/a/../b", StorageURL("file", "", "/tmp/b")),
    ],
)
def test_parse(text: str, expected: StorageURL) -> None:
    assert parse_url(text) == expected


def test_relative_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_url("data/x").key == str(tmp_path / "data" / "x")
    assert parse_url("data/").key == str(tmp_path / "data") + os.sep


@pytest.mark.parametrize("text", ["gs://b/k", "http://host/x", "obs://../k", "obs://-bucket/k", "obs:///k", ""])
def test_invalid_urls_are_refused(text: str) -> None:
    with pytest.raises(InvalidURL):
        parse_url(text)


@pytest.mark.parametrize("key", ["../x", "a/../../etc/x", "a/./b", "/etc/passwd", "a\x00b", ".."])
def test_unsafe_keys_are_refused_with_the_reason(key: str) -> None:
    with pytest.raises(UnsafeKey, match="refused"):
        check_key(key)
    with pytest.raises(UnsafeKey):
        parse_url(f"obs://bucket/{key}")


segments = st.lists(st.sampled_from(["a", "b", "..", ".", "", "c d", "ü", "..."]), min_size=1, max_size=6)


@given(parts=segments, leading=st.booleans())
def test_no_accepted_key_resolves_outside_the_root(parts: list[str], leading: bool) -> None:
    key = ("/" if leading else "") + "/".join(parts)
    store = LocalStore("/srv/root")
    try:
        path = store.path(key)
    except UnsafeKey:
        return
    assert os.path.normpath(path).startswith("/srv/root/") or os.path.normpath(path) == "/srv/root"


def test_join_checks_the_relative_part() -> None:
    base = parse_url("obs://bucket/prefix")
    assert str(base.join("a/b")) == "obs://bucket/prefix/a/b"
    with pytest.raises(UnsafeKey):
        base.join("../other")
