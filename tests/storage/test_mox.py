"""The moxing `mox.file` API: a script written the way ModelArts scripts are, and each call on its own."""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from launcher import storage
from launcher.storage import mox
from launcher.storage.errors import NotFound
from tests.storage.helpers import read_tree, write_tree

REPO = Path(__file__).resolve().parents[2]

MODELARTS_SCRIPT = textwrap.dedent(
    """
    import argparse
    import os

    import moxing as mox

    parser = argparse.ArgumentParser()
    parser.add_argument("--data_url", type=str, default="obs://bucket/data/")
    parser.add_argument("--train_url", type=str, default="obs://bucket/output/")
    args, unknown = parser.parse_known_args()

    cache = os.environ["CACHE_DIR"]
    local_data = os.path.join(cache, "dataset")
    local_out = os.path.join(cache, "result")
    mox.file.copy_parallel(args.data_url, local_data)

    lines = 0
    for name in sorted(os.listdir(os.path.join(local_data, "train"))):
        with open(os.path.join(local_data, "train", name)) as f:
            lines += len(f.read().splitlines())
    os.makedirs(os.path.join(local_out, "ckpt"), exist_ok=True)
    with open(os.path.join(local_out, "ckpt", "model.ckpt-100"), "wb") as f:
        f.write(b"weights" * 1000)

    mox.file.copy_parallel(local_out, args.train_url)
    mox.file.make_dirs(os.path.join(args.train_url, "logs"))
    with mox.file.File(os.path.join(args.train_url, "logs", "train.log"), "w") as f:
        f.write("lines=%d\\n" % lines)
    mox.file.append(os.path.join(args.train_url, "logs", "train.log"), "done\\n")
    assert mox.file.exists(os.path.join(args.train_url, "ckpt", "model.ckpt-100"))
    assert mox.file.is_directory(os.path.join(args.train_url, "ckpt"))
    print("sizes", mox.file.get_size(args.train_url, recursive=True))
    print("found", mox.file.glob(os.path.join(args.train_url, "ckpt", "*.ckpt-*")))

    mox.file.shift("os", "mox")
    with open(os.path.join(args.train_url, "logs", "train.log")) as f:
        print("log", f.read().replace("\\n", "|"))
    print("exists", os.path.exists(os.path.join(args.train_url, "logs")))
    mox.file.shift("mox", "os")
    """
)


def run_script(tmp_path: Path, data_url: str, train_url: str) -> str:
    script = tmp_path / "train.py"
    script.write_text(MODELARTS_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, str(script), f"--data_url={data_url}", f"--train_url={train_url}", "--extra=1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(params=["embedded", "s3"])
def bucket_url(request: pytest.FixtureRequest) -> str:
    if request.param == "embedded":
        return "obs://bucket"
    return f"obs://{request.getfixturevalue('s3')}"


def test_modelarts_style_script_runs_unchanged(bucket_url: str, tmp_path: Path) -> None:
    write_tree(tmp_path / "data", {"train/a.txt": b"1\n2\n", "train/b.txt": b"3\n", "val/c.txt": b"4\n"})
    storage.sync(str(tmp_path / "data"), f"{bucket_url}/data")
    out = run_script(tmp_path, f"{bucket_url}/data/", f"{bucket_url}/output/")
    assert "sizes 7013" in out  # 7000-byte checkpoint + "lines=3\ndone\n" (13 bytes)
    assert f"found ['{bucket_url}/output/ckpt/model.ckpt-100']" in out
    assert "log lines=3|done|" in out
    assert "exists True" in out
    storage.sync(f"{bucket_url}/output", str(tmp_path / "pulled"))
    assert read_tree(tmp_path / "pulled") == {
        "ckpt/model.ckpt-100": b"weights" * 1000,
        "logs/train.log": b"lines=3\ndone\n",
    }


def test_file_api_calls(bucket_url: str, tmp_path: Path) -> None:
    base = f"{bucket_url}/api"
    mox.write(f"{base}/a/x.txt", "hello")
    mox.write(f"{base}/a/b/y.bin", b"\x00\x01", binary=True)
    assert mox.read(f"{base}/a/x.txt") == "hello"
    assert mox.read(f"{base}/a/b/y.bin", binary=True) == b"\x00\x01"
    assert mox.list_directory(f"{base}/a") == ["b", "x.txt"]
    assert mox.list_directory(f"{base}/a", recursive=True) == ["b", "b/y.bin", "x.txt"]
    assert list(mox.walk(f"{base}/a")) == [(f"{base}/a", ["b"], ["x.txt"]), (f"{base}/a/b", [], ["y.bin"])]
    info = mox.stat(f"{base}/a/x.txt")
    assert (info.length, info.is_dir, info.st_size) == (5, False, 5)
    assert mox.stat(f"{base}/a").is_dir
    assert mox.get_size(f"{base}/a", recursive=True) == 7

    mox.copy(f"{base}/a/x.txt", f"{base}/copy.txt")
    mox.rename(f"{base}/copy.txt", f"{base}/moved.txt")
    assert not mox.exists(f"{base}/copy.txt") and mox.read(f"{base}/moved.txt") == "hello"
    mox.rename(f"{base}/a", f"{base}/renamed")
    assert not mox.exists(f"{base}/a") and mox.list_directory(f"{base}/renamed") == ["b", "x.txt"]

    with mox.File(f"{base}/lines.txt", "w") as fh:
        fh.write("one\ntwo\n")
    with mox.File(f"{base}/lines.txt", "a") as fh:
        fh.write("three\n")
    with mox.File(f"{base}/lines.txt") as fh:
        assert [line.strip() for line in fh] == ["one", "two", "three"]

    mox.copy_parallel(f"{base}/renamed", str(tmp_path / "sub"), file_list=["b/y.bin"])
    assert read_tree(tmp_path / "sub") == {"b/y.bin": b"\x00\x01"}

    mox.make_dirs(f"{base}/empty")
    assert mox.is_directory(f"{base}/empty")
    mox.remove(f"{base}/renamed", recursive=True)
    mox.remove(f"{base}/empty", recursive=True)
    assert not mox.exists(f"{base}/renamed") and not mox.is_directory(f"{base}/empty")
    with pytest.raises(NotFound):
        mox.stat(f"{base}/renamed")


def test_relative_local_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_tree(tmp_path / "data", {"a.txt": b"a", "sub/b.txt": b"b"})
    assert mox.list_directory("data") == ["a.txt", "sub"]
    assert mox.list_directory("data", recursive=True) == ["a.txt", "sub", "sub/b.txt"]
    assert list(mox.walk("data")) == [("data", ["sub"], ["a.txt"]), ("data/sub", [], ["b.txt"])]
    mox.copy_parallel("data", "obs://bucket/rel")
    assert mox.glob("obs://bucket/rel/*/*.txt") == ["obs://bucket/rel/sub/b.txt"]


def test_shift_routes_only_object_urls_and_undoes(tmp_path: Path) -> None:
    original_open = builtins.open
    mox.shift("os", "mox")
    try:
        with open("obs://bucket/s/t.txt", "w") as fh:
            fh.write("via open")
        assert os.path.exists("obs://bucket/s/t.txt") and os.path.isfile("obs://bucket/s/t.txt")
        assert os.listdir("obs://bucket/s") == ["t.txt"]
        local = tmp_path / "plain.txt"
        with open(local, "w") as fh:  # plain paths keep the real behaviour
            fh.write("local")
        import shutil

        shutil.copy("obs://bucket/s/t.txt", str(tmp_path) + "/")
        assert (tmp_path / "t.txt").read_text() == "via open"
    finally:
        mox.shift("mox", "os")
    assert builtins.open is original_open
    assert local.read_text() == "local"


def test_set_auth_points_at_a_server(s3: str, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = os.environ["S3_ENDPOINT"]
    for name in ("S3_ENDPOINT", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    host, port = endpoint.removeprefix("http://").split(":")
    try:
        mox.set_auth(ak="testkey", sk="testsecret", server=host, port=int(port), is_secure=False)
        mox.write(f"obs://{s3}/auth/x.txt", "on the server")
        assert mox.read(f"obs://{s3}/auth/x.txt") == "on the server"
    finally:
        mox.clear_auth()
    assert not storage.exists(f"obs://{s3}/auth/x.txt")  # without set_auth: the embedded store
