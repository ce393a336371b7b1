"""The node's data cache: one entry per data URL, refreshed incrementally, shared by jobs, evicted by LRU."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock

from entry import datacache
from entry.datacache import cache_key, cache_root, entries, prepare_data
from launcher import storage
from tests.launcher.helpers import FIXTURES, run_cli, wait_for
from tests.storage.helpers import read_tree, write_tree


@pytest.fixture(autouse=True)
def released() -> Iterator[None]:
    yield
    datacache.release()  # this process's holds on entries end with each test, as they would with a job


def upload(tmp_path: Path, url: str, files: dict[str, bytes]) -> None:
    source = tmp_path / f"src-{time.monotonic_ns()}"
    write_tree(source, files)
    storage.sync(str(source), url, delete=True)


def test_a_second_job_and_a_restart_download_nothing(s3: str, tmp_path: Path) -> None:
    url = f"s3://{s3}/data/"
    files = {f"d{i % 3}/f{i}.bin": bytes([i]) * (100 + i) for i in range(40)}
    upload(tmp_path, url, files)
    first = prepare_data(url, tmp_path / "job1" / "work" / "data")
    assert first is not None and first.copied == 40
    second = prepare_data(url, tmp_path / "job2" / "work" / "data")
    restart = prepare_data(url, tmp_path / "job1-restart" / "work" / "data")
    for report in (second, restart):
        assert report is not None and (report.copied, report.bytes, report.deleted, report.skipped) == (0, 0, 0, 40)
    assert read_tree(tmp_path / "job2" / "work" / "data") == files
    one_copy = {(tmp_path / job / "work" / "data").resolve() for job in ("job1", "job2", "job1-restart")}
    assert len(one_copy) == 1 and one_copy.pop().is_relative_to(cache_root())
    [entry] = entries()
    assert entry.data_url == url and entry.files == 40 and entry.bytes == sum(map(len, files.values()))
    assert entry.in_use  # this process (the job) holds it


def test_a_refresh_fetches_what_changed_and_removes_what_was_removed(s3: str, tmp_path: Path) -> None:
    url = f"s3://{s3}/data/"
    upload(tmp_path, url, {"a.bin": b"1" * 10, "b.bin": b"2" * 10, "c.bin": b"3" * 10})
    prepare_data(url, tmp_path / "job1" / "data")
    time.sleep(1.1)  # the store stamps whole seconds: the change must land in a later one
    storage.write_bytes(url + "a.bin", b"9" * 10)  # same size, new content
    storage.write_bytes(url + "d.bin", b"4")
    storage.rm(url + "b.bin")
    report = prepare_data(url, tmp_path / "job2" / "data")
    assert report is not None and (report.copied, report.deleted) == (2, 1)
    expected = {"a.bin": b"9" * 10, "c.bin": b"3" * 10, "d.bin": b"4"}
    assert read_tree(tmp_path / "job2" / "data") == expected == read_tree(tmp_path / "job1" / "data")


def test_jobs_starting_together_fill_one_entry_once_with_one_listing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "obs://b/together/"
    upload(tmp_path, url, {f"x{i}.bin": b"1" * 100 for i in range(20)})
    syncs, holds = [], []
    real_sync, real_hold = storage.sync, datacache._hold
    monkeypatch.setattr(storage, "sync", lambda *a, **k: syncs.append(a) or real_sync(*a, **k))
    monkeypatch.setattr(datacache, "_hold", lambda f: holds.append(f) or real_hold(f))
    reports: list = []
    threads = [
        threading.Thread(target=lambda n=n: reports.append(prepare_data(url, tmp_path / f"j{n}" / "data")))
        for n in range(3)
    ]
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f"{cache_key(url, '')}.lock")):  # all three are waiting before the first refreshes
        for t in threads:
            t.start()
        wait_for(lambda: len(holds) == 3)
        time.sleep(0.2)
    for t in threads:
        t.join()
    assert sorted(r.copied for r in reports) == [0, 0, 20]
    assert len(syncs) == 1  # the two that waited reuse the fresh refresh: one listing, not three
    assert len(entries()) == 1 and all(read_tree(tmp_path / f"j{n}" / "data") for n in range(3))


def test_entries_are_keyed_by_url_and_endpoint() -> None:
    assert cache_key("obs://b/data", "") == cache_key("obs://b/data/", "")
    assert cache_key("obs://b/data/", "https://a.example") != cache_key("obs://b/data/", "https://b.example")
    assert cache_key("obs://b/data/", "") != cache_key("obs://b/data2/", "")


def test_a_local_input_is_used_where_it_is(tmp_path: Path) -> None:
    channel = tmp_path / "inputs" / "data_url_0"  # what ModelArts input channels leave on the node
    write_tree(channel, {"x.bin": b"1"})
    data_dir = tmp_path / "work" / "data"
    assert prepare_data(str(channel), data_dir) is None
    assert data_dir.is_symlink() and data_dir.resolve() == channel.resolve()
    assert entries() == [] and read_tree(data_dir) == {"x.bin": b"1"}
    with pytest.raises(datacache.UserError, match="no such folder"):
        prepare_data(str(tmp_path / "missing"), tmp_path / "w2" / "data")


def test_least_recently_used_entries_go_first_and_entries_in_use_stay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("d1", "d2", "d3"):
        upload(tmp_path, f"obs://b/{name}/", {"x.bin": b"1" * 1000})
        prepare_data(f"obs://b/{name}/", tmp_path / name / "data")
        datacache.release()  # that job ended
    monkeypatch.setenv(datacache.ENV_CACHE_MAX, "2500")
    prepare_data("obs://b/d1/", tmp_path / "d1-again" / "data")  # d1 is the newest use now: d2 is the oldest
    assert [e.data_url for e in entries()] == ["obs://b/d3/", "obs://b/d1/"]
    # A job in another process uses d3: `prune --all` keeps it, `ls` says so.
    use_file = cache_root() / f"{cache_key('obs://b/d3/', '')}.use"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'ab'); fcntl.flock(f, fcntl.LOCK_SH); "
         "print('held', flush=True); time.sleep(120)", str(use_file)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        datacache.release()
        listing = run_cli("data", "cache", "ls")
        assert listing.returncode == 0, listing.stderr
        d3 = next(line for line in listing.stdout.splitlines() if line.endswith("obs://b/d3/"))
        assert " yes " in d3 and "2 entries" in listing.stdout
        pruned = run_cli("data", "cache", "prune", "--all")
        assert pruned.returncode == 0, pruned.stderr
        assert "removed obs://b/d1/" in pruned.stdout and "kept 1 entries in use" in pruned.stdout
        assert [e.data_url for e in entries()] == ["obs://b/d3/"]
    finally:
        holder.kill()
        holder.wait()
    assert run_cli("data", "cache", "prune", "--url", "obs://b/d3").returncode == 0
    assert entries() == []
    missing = run_cli("data", "cache", "prune", "--url", "obs://b/nope/")
    assert missing.returncode == 2 and "no cache entry for obs://b/nope/" in missing.stderr


def test_a_second_local_job_fetches_nothing_and_its_trainer_reads_the_shared_copy() -> None:
    toy = str(FIXTURES / "toy_counter.yaml")
    first, second = run_cli("submit", toy, "--steps", "1"), run_cli("submit", toy, "--steps", "1")
    for result in (first, second):
        assert result.returncode == 0, result.stdout + result.stderr
        assert "toy: data files ['a.txt', 'sub/b.txt']" in result.stdout
    assert "copied 2 (" in first.stdout and "copied 0 (0 B), skipped 2" in second.stdout
    [entry] = entries()
    assert entry.files == 2 and not entry.in_use  # both jobs ended: their holds went with their processes
