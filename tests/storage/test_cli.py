"""`launcher data ls|cp|sync|rm|du` through the command line (launcher.__main__.main, in-process): output,
summary line, one-line errors. The parser itself: tests/storage/test_data_command_line.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher.__main__ import main
from launcher.errors import UserError
from launcher.storage.cli import DataCommands
from launcher.storage.errors import TransferFailed
from tests.storage.helpers import read_tree, write_tree


def data(*argv: str) -> None:
    main(["data", *argv])


def test_sync_ls_du_rm_through_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tree(tmp_path / "src", {"a.txt": b"aa", "sub/b.txt": b"bbb", "skip.tmp": b"x", "run.log": b"y"})
    data("sync", str(tmp_path / "src"), "obs://bucket/in", "--exclude=*.tmp,*.log")
    out = capsys.readouterr().out
    assert "copied 2 (5 B), skipped 0, deleted 0, failed 0" in out.splitlines()[-1]

    data("ls", "obs://bucket/in")
    assert capsys.readouterr().out.split() == ["obs://bucket/in/a.txt", "obs://bucket/in/sub/"]
    data("ls", "obs://bucket/in", "--recursive", "--long")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].split()[0] == "3" and lines[1].endswith("obs://bucket/in/sub/b.txt")
    data("du", "obs://bucket/in")
    assert capsys.readouterr().out.startswith("2 files, 5 bytes")

    data("sync", "obs://bucket/in", str(tmp_path / "out"), "--dry-run")
    out = capsys.readouterr().out
    assert "would copy 2" in out and out.count("\ncopy ") + out.startswith("copy ") == 2
    assert not (tmp_path / "out").exists()

    data("cp", "obs://bucket/in", str(tmp_path / "out"), "--recursive")
    assert read_tree(tmp_path / "out") == {"a.txt": b"aa", "sub/b.txt": b"bbb"}
    data("rm", "obs://bucket/in", "--recursive")
    assert "deleted 2 file(s)" in capsys.readouterr().out.splitlines()[-1]


def test_user_mistakes_are_user_errors(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.txt": b"a"})
    with pytest.raises(UserError, match="--recursive"):
        DataCommands().cp(str(tmp_path / "src"), "obs://bucket/x")
    with pytest.raises(UserError, match="unsupported URL scheme"):
        DataCommands().ls("gs://bucket/x")
    with pytest.raises(UserError, match="nothing at"):
        DataCommands().cp("obs://bucket/none.txt", str(tmp_path / "n.txt"))


def test_failed_files_are_listed_and_exit_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tree(tmp_path / "src", {"ok.txt": b"1", "blocked/x.txt": b"2"})
    write_tree(tmp_path / "dst", {"blocked": b"a file where a folder must go"})
    with pytest.raises(TransferFailed) as info:
        DataCommands().sync(str(tmp_path / "src"), str(tmp_path / "dst"))
    assert info.value.exit_code == 2
    captured = capsys.readouterr()
    assert "FAILED" in captured.err and "blocked/x.txt" in captured.err
    assert "copied 1" in captured.out and "failed 1" in captured.out


def test_progress_bar_on_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tree(tmp_path / "src", {f"f{i}.bin": b"x" * 1000 for i in range(20)})
    DataCommands().sync(str(tmp_path / "src"), "obs://bucket/p", progress=True)
    err = capsys.readouterr().err
    assert "files 20/20" in err and "100%" in err
