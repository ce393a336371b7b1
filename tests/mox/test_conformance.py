"""mox.file conformance: each call shape documented by Huawei (huaweicloud/ModelArts-Lab
docs/moxing_api_doc/MoXing_API_File_apidoc.md and MoXing_API_File.md), on the embedded store and on SeaweedFS.
docs/moxing.md is the table these tests stand behind.
"""

from __future__ import annotations

import glob
import io
import logging
import os
import shutil
import stat as stat_mod
from pathlib import Path

import pytest

import moxing as mox
from tests.storage.helpers import read_tree, write_tree


def test_import_paths_lead_to_one_module() -> None:
    import moxing.framework.file.file_io as file_io
    import moxing.pytorch
    import moxing.tensorflow
    from moxing.framework import file

    assert file is mox.file and file_io is mox.file
    assert moxing.tensorflow.file is mox.file and moxing.pytorch.file is mox.file
    from moxing.framework.file import file_io as again

    assert again is mox.file


def test_exceptions_are_the_builtins_scripts_catch(bucket_url: str) -> None:
    with pytest.raises(mox.file.MoxFileNotExistsException):
        mox.file.stat(f"{bucket_url}/not_exists")
    with pytest.raises(FileNotFoundError):
        mox.file.read(f"{bucket_url}/not_exists")
    with pytest.raises(FileNotFoundError):
        mox.file.copy(f"{bucket_url}/not_exists", f"{bucket_url}/x")
    with pytest.raises(FileNotFoundError):
        mox.file.File(f"{bucket_url}/not_exists", "r")
    assert issubclass(mox.file.MoxFileRespException, RuntimeError)
    assert issubclass(mox.file.MoxFileReadException, RuntimeError)
    assert issubclass(mox.file.MoxFileRespException, OSError)
    assert issubclass(mox.file.MoxFileNameDuplicateException, Exception)


def test_read_write_append(bucket_url: str) -> None:
    url = f"{bucket_url}/rw/obs_file.txt"
    mox.file.write(url, "Hello World!")
    mox.file.append(url, "\nend of file.")
    assert mox.file.read(url) == "Hello World!\nend of file."
    mox.file.write(f"{bucket_url}/rw/data.bin", b"xxx", binary=True)
    mox.file.append(f"{bucket_url}/rw/data.bin", b"yyy", binary=True)
    assert mox.file.read(f"{bucket_url}/rw/data.bin", binary=True) == b"xxxyyy"
    assert mox.file.read(f"{bucket_url}/rw/data.bin", client_id=7, binary=True) == b"xxxyyy"
    mox.file.write(f"{bucket_url}/rw/data0.bin", b"000", binary=True)
    mox.file.append_remote(f"{bucket_url}/rw/data0.bin", f"{bucket_url}/rw/data.bin")
    assert mox.file.read(f"{bucket_url}/rw/data.bin", binary=True) == b"xxxyyy000"
    mox.file.write(f"{bucket_url}/rw/crlf.txt", b"a\r\nb\rc\n", binary=True)
    assert mox.file.read(f"{bucket_url}/rw/crlf.txt") == "a\nb\nc\n"  # as open(url).read()


def test_file_object_modes(bucket_url: str) -> None:
    url = f"{bucket_url}/f/a.txt"
    with mox.file.File(url, "w") as f:
        f.write("test\n")
        f.writelines(["x\n", "y\n"])
        assert f.size() == 9 and f.mode == "w" and f.name == url and f.writable() and not f.readable()
    with mox.file.File(url, "r") as f:
        assert f.readline() == "test\n" and f.readlines() == ["x\n", "y\n"]
    with mox.file.File(url, "a") as f:
        f.write("z\n")
    with mox.file.File(url, "r+") as f:
        assert f.read(4) == "test"
        f.seek(0)
        f.write("TEST")
    assert mox.file.read(url) == "TEST\nx\ny\nz\n"
    with mox.file.File(url, "br") as f:
        assert f.read() == b"TEST\nx\ny\nz\n" and f.tell() == 11 and f.size() == 11
    with mox.file.File(f"{bucket_url}/f/b.bin", "bw") as f:
        f.write(b"\x00\x01")
    with mox.file.File(f"{bucket_url}/f/b.bin", "ba+") as f:
        f.write(b"\x02")
    assert mox.file.read(f"{bucket_url}/f/b.bin", binary=True) == b"\x00\x01\x02"
    with mox.file.File(f"{bucket_url}/f/empty.txt", "w"):
        pass
    assert mox.file.exists(f"{bucket_url}/f/empty.txt") and mox.file.get_size(f"{bucket_url}/f/empty.txt") == 0


def test_text_mode_translates_newlines_like_open(bucket_url: str) -> None:
    mox.file.write(f"{bucket_url}/nl/win.txt", b"one\r\ntwo\r\n", binary=True)
    with mox.file.File(f"{bucket_url}/nl/win.txt") as f:
        assert list(f) == ["one\n", "two\n"]
    with mox.file.File(f"{bucket_url}/nl/win.txt", "r", newline="") as f:
        assert f.read() == "one\r\ntwo\r\n"


def test_flush_makes_written_data_visible(bucket_url: str) -> None:
    """MoXing_API_File.md: a logging stream on mox.file.File, flushed as it goes, reaches OBS before close."""
    url = f"{bucket_url}/logs/logging.txt"
    stream = mox.file.File(url, "w")
    handler = logging.StreamHandler(stream)  # what logging.basicConfig(stream=stream) installs
    log = logging.getLogger("mox-conformance")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("hello world")  # StreamHandler flushes after each record
        assert mox.file.read(url) == "hello world\n"  # visible while the file is still open
        stream.write("more")
        assert mox.file.read(url) == "hello world\n"  # not flushed yet: the store has the previous content
        stream.flush()
        assert mox.file.read(url) == "hello world\nmore"
    finally:
        log.removeHandler(handler)
        stream.close()
    assert mox.file.read(url) == "hello world\nmore"


def test_copy_one_file_every_direction(bucket_url: str, tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("payload")
    mox.file.copy(str(tmp_path / "file.txt"), f"{bucket_url}/c/file.txt")
    mox.file.copy(f"{bucket_url}/c/file.txt", f"{bucket_url}/c/file2.txt", client_id=3)
    mox.file.copy(f"{bucket_url}/c/file2.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "payload"


def test_copy_parallel_folders_every_direction(bucket_url: str, tmp_path: Path) -> None:
    files = {"a.txt": b"a", "sub/b.bin": b"b" * 100, "sub/deeper/c": b"c"}
    write_tree(tmp_path / "src", files)
    (tmp_path / "src" / "empty" / "inner").mkdir(parents=True)
    mox.file.copy_parallel(str(tmp_path / "src"), f"{bucket_url}/sub_dir_0")
    mox.file.copy_parallel(f"{bucket_url}/sub_dir_0", f"{bucket_url}/sub_dir_1")
    mox.file.copy_parallel(f"{bucket_url}/sub_dir_1", str(tmp_path / "dst"), threads=4, is_processing=False)
    assert read_tree(tmp_path / "dst") == files
    assert (tmp_path / "dst" / "empty" / "inner").is_dir()  # empty folders round-trip
    assert mox.file.is_directory(f"{bucket_url}/sub_dir_1/empty/inner")
    mox.file.copy_parallel(f"{bucket_url}/sub_dir_0", str(tmp_path / "some"), file_list=["sub/b.bin"])
    assert read_tree(tmp_path / "some") == {"sub/b.bin": b"b" * 100}


def test_copy_parallel_from_empty_or_missing_folder_creates_destination(bucket_url: str, tmp_path: Path) -> None:
    mox.file.copy_parallel(f"{bucket_url}/never_written/", str(tmp_path / "out"))
    assert os.listdir(tmp_path / "out") == []
    mox.file.make_dirs(f"{bucket_url}/made_empty")
    mox.file.copy_parallel(f"{bucket_url}/made_empty", str(tmp_path / "out2"))
    assert os.listdir(tmp_path / "out2") == []
    (tmp_path / "local_empty").mkdir()
    mox.file.copy_parallel(str(tmp_path / "local_empty"), f"{bucket_url}/up_empty")  # not a failure
    assert mox.file.is_directory(f"{bucket_url}/up_empty")


def test_queries(bucket_url: str) -> None:
    mox.file.write(f"{bucket_url}/q/dir/x.jpg", b"12345", binary=True)
    mox.file.write(f"{bucket_url}/q/dir/y.jpg", b"1", binary=True)
    mox.file.write(f"{bucket_url}/q/dir/sub/z.txt", b"12", binary=True)
    assert mox.file.exists(f"{bucket_url}/q/dir") and mox.file.exists(f"{bucket_url}/q/dir/x.jpg")
    assert not mox.file.exists(f"{bucket_url}/q/nothing")
    assert mox.file.is_directory(f"{bucket_url}/q/dir") and not mox.file.is_directory(f"{bucket_url}/q/dir/x.jpg")
    assert mox.file.get_size(f"{bucket_url}/q/dir/x.jpg") == 5
    assert mox.file.get_size(f"{bucket_url}/q/dir") == 0  # a folder without recursive
    assert mox.file.get_size(f"{bucket_url}/q/dir", recursive=True) == 8
    with pytest.raises(FileNotFoundError):
        mox.file.get_size(f"{bucket_url}/q/nothing")
    assert mox.file.glob(f"{bucket_url}/q/dir/*.jpg") == [f"{bucket_url}/q/dir/x.jpg", f"{bucket_url}/q/dir/y.jpg"]
    assert mox.file.glob(f"{bucket_url}/q/missing/*.jpg") == []

    info = mox.file.stat(f"{bucket_url}/q/dir/x.jpg")
    assert (info.length, info.is_directory, info.st_size) == (5, False, 5)
    assert info.mtime_nsec > 0 and info.mtime_nsec == info.st_mtime_ns and stat_mod.S_ISREG(info.st_mode)
    assert mox.file.stat(f"{bucket_url}/q/dir").is_directory


def test_list_directory_and_walk(bucket_url: str) -> None:
    base = f"{bucket_url}/ls"
    mox.file.write(f"{base}/a.txt", "a")
    mox.file.write(f"{base}/d/b.txt", "b")
    mox.file.make_dirs(f"{base}/e")
    assert mox.file.list_directory(base) == ["a.txt", "d", "e"]
    assert mox.file.list_directory(base + "/", remove_sep=True) == ["a.txt", "d", "e"]
    assert mox.file.list_directory(base, recursive=True) == ["a.txt", "d", "d/b.txt", "e"]
    assert mox.file.list_directory(base, skip_file=True) == ["d", "e"]
    assert mox.file.list_directory(base, skip_dir=True) == ["a.txt"]
    assert mox.file.list_directory(base, recursive=True, skip_dir=True) == ["a.txt", "d/b.txt"]
    assert list(mox.file.walk(base)) == [
        (base, ["d", "e"], ["a.txt"]), (f"{base}/d", [], ["b.txt"]), (f"{base}/e", [], [])
    ]
    assert [w[0] for w in mox.file.walk(base, topdown=False)] == [f"{base}/d", f"{base}/e", base]
    # a missing folder: like os.listdir / os.walk
    with pytest.raises(FileNotFoundError):
        mox.file.list_directory(f"{base}/missing")
    with pytest.raises(NotADirectoryError):
        mox.file.list_directory(f"{base}/a.txt")
    errors: list[OSError] = []
    assert list(mox.file.walk(f"{base}/missing", onerror=errors.append)) == []
    assert len(errors) == 1 and isinstance(errors[0], FileNotFoundError)


def test_scan_dir(bucket_url: str) -> None:
    mox.file.write(f"{bucket_url}/scan/f.txt", "12")
    mox.file.make_dirs(f"{bucket_url}/scan/d")
    with mox.file.scan_dir(f"{bucket_url}/scan") as entries:
        found = {e.name: (e.is_dir(), e.is_file(), e.stat().st_size, e.path) for e in entries}
    assert found == {
        "d": (True, False, 0, f"{bucket_url}/scan/d"),
        "f.txt": (False, True, 2, f"{bucket_url}/scan/f.txt"),
    }


def test_make_dirs_and_mk_dir(bucket_url: str) -> None:
    mox.file.make_dirs(f"{bucket_url}/mk/sub_dir_0/sub_dir_1")
    assert mox.file.is_directory(f"{bucket_url}/mk/sub_dir_0/sub_dir_1")
    mox.file.make_dirs(f"{bucket_url}/mk/sub_dir_0/sub_dir_1")  # again: no error
    mox.file.mk_dir(f"{bucket_url}/mk/sub_dir_0/new_dir")
    assert mox.file.is_directory(f"{bucket_url}/mk/sub_dir_0/new_dir")
    with pytest.raises(OSError):
        mox.file.mk_dir(f"{bucket_url}/mk/no_parent/new_dir")
    assert not mox.file.exists(f"{bucket_url}/mk/no_parent")


def test_remove_as_documented(bucket_url: str) -> None:
    base = f"{bucket_url}/rm"
    mox.file.write(f"{base}/file_name", "f")
    mox.file.write(f"{base}/dir_name/x", "x")
    mox.file.remove(f"{base}/file_name/")  # "Do nothing": a trailing '/' names a folder
    mox.file.remove(f"{base}/dir_name")  # "Do nothing": a folder without recursive
    mox.file.remove(f"{base}/dir_name/", recursive=False)
    mox.file.remove(f"{base}/missing")  # nothing there: nothing to do
    assert mox.file.exists(f"{base}/file_name") and mox.file.exists(f"{base}/dir_name/x")
    mox.file.remove(f"{base}/file_name", recursive=True)  # a file, even with recursive
    assert not mox.file.exists(f"{base}/file_name")
    mox.file.remove(f"{base}/dir_name/", recursive=True)
    assert not mox.file.exists(f"{base}/dir_name")


def test_rename_files_and_folders(bucket_url: str, tmp_path: Path) -> None:
    mox.file.write(f"{bucket_url}/mv/obs_file.txt", "x")
    mox.file.rename(f"{bucket_url}/mv/obs_file.txt", f"{bucket_url}/mv/obs_file_2.txt")
    mox.file.rename(f"{bucket_url}/mv/obs_file_2.txt", str(tmp_path / "obs_file.txt"))
    assert (tmp_path / "obs_file.txt").read_text() == "x" and not mox.file.exists(f"{bucket_url}/mv/obs_file_2.txt")
    mox.file.rename(str(tmp_path / "obs_file.txt"), f"{bucket_url}/mv/back.txt")
    assert not (tmp_path / "obs_file.txt").exists() and mox.file.read(f"{bucket_url}/mv/back.txt") == "x"
    mox.file.write(f"{bucket_url}/mv/d/a", "a")
    mox.file.rename(f"{bucket_url}/mv/d", f"{bucket_url}/mv/e")
    assert mox.file.list_directory(f"{bucket_url}/mv/e") == ["a"] and not mox.file.exists(f"{bucket_url}/mv/d")


def test_shift_covers_the_mapping_table(bucket_url: str, tmp_path: Path) -> None:
    mox.file.write(f"{bucket_url}/sh/hello_world.txt", "hi")
    mox.file.write(f"{bucket_url}/sh/img/1.jpg", b"1", binary=True)
    mox.file.shift("os", "mox")
    try:
        assert glob.glob(f"{bucket_url}/sh/img/*.jpg") == [f"{bucket_url}/sh/img/1.jpg"]
        assert os.stat(f"{bucket_url}/sh/hello_world.txt").st_size == 2
        assert stat_mod.S_ISDIR(os.stat(f"{bucket_url}/sh/img").st_mode)
        with os.scandir(f"{bucket_url}/sh") as it:
            assert sorted((e.name, e.is_dir()) for e in it) == [("hello_world.txt", False), ("img", True)]
        shutil.copytree(f"{bucket_url}/sh", str(tmp_path / "tree"))
        assert read_tree(tmp_path / "tree") == {"hello_world.txt": b"hi", "img/1.jpg": b"1"}
        with open(f"{bucket_url}/sh/hello_world.txt") as f:
            assert f.read() == "hi"
        with io.open(f"{bucket_url}/sh/w.txt", "w") as f:
            f.write("w")
        os.makedirs(f"{bucket_url}/sh/made", exist_ok=True)
        assert os.path.isdir(f"{bucket_url}/sh/made") and os.path.isfile(f"{bucket_url}/sh/w.txt")
        assert os.listdir(f"{bucket_url}/sh") == ["hello_world.txt", "img", "made", "w.txt"]
        assert os.path.getsize(f"{bucket_url}/sh/w.txt") == 1
        assert glob.glob(str(tmp_path / "tree" / "*.txt")) == [str(tmp_path / "tree" / "hello_world.txt")]
    finally:
        mox.file.shift("mox", "os")
    assert glob.glob(f"{bucket_url}/sh/img/*.jpg") == []  # the real glob again


def test_local_paths_behave_like_os(tmp_path: Path) -> None:
    write_tree(tmp_path / "d", {"a.txt": b"12", "sub/b.txt": b"3"})
    (tmp_path / "d" / "empty").mkdir()
    d = str(tmp_path / "d")
    assert mox.file.list_directory(d) == sorted(os.listdir(d))
    assert mox.file.list_directory(d, skip_dir=True) == ["a.txt"]
    assert mox.file.list_directory(d, recursive=True) == ["a.txt", "empty", "sub", "sub/b.txt"]
    assert [w[0] for w in mox.file.walk(d)] == [w[0] for w in os.walk(d)]
    with pytest.raises(FileNotFoundError):
        mox.file.list_directory(str(tmp_path / "missing"))
    assert (mox.file.get_size(d), mox.file.get_size(d, recursive=True)) == (0, 3)
    assert mox.file.stat(f"file://{d}/a.txt").length == 2 and mox.file.stat(d).is_directory
    assert mox.file.glob(f"{d}/*.txt") == [f"{d}/a.txt"]
    mox.file.remove(f"{d}/sub")  # a folder without recursive: left alone
    assert os.path.isdir(f"{d}/sub")
    os.symlink(f"{d}/sub", f"{d}/link")
    mox.file.remove(f"{d}/link", recursive=True)  # the link itself, never what it points to
    assert not os.path.lexists(f"{d}/link") and os.path.isfile(f"{d}/sub/b.txt")
    mox.file.remove(f"{d}/sub", recursive=True)
    mox.file.remove(f"{d}/missing")
    assert sorted(os.listdir(d)) == ["a.txt", "empty"]
    with pytest.raises(FileExistsError):
        mox.file.mk_dir(f"{d}/empty")
