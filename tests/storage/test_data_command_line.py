"""`launcher data ...` parsed by argparse from DataCommands (launcher/argcommands.py): one description per
command, every flag spelling scripts written for the fire CLI use, help and usage errors as a user sees them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from launcher.__main__ import main
from launcher.argcommands import CommandLine, docstring, parameters
from launcher.datacache_cli import CacheCommands
from launcher.storage.cli import DataCommands, _patterns
from tests.storage.helpers import read_tree, write_tree

COMMAND_LINE = CommandLine(DataCommands(), "launcher data")


def parse(*argv: str) -> tuple[str, dict[str, Any]]:
    command, arguments = COMMAND_LINE.parse(list(argv))
    return command.__name__, arguments


def launcher(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH is passed on: the child imports this tree.
    return subprocess.run([sys.executable, "-m", "launcher", *args], env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=120, check=False)


# -- one description per command: the parser is the methods' signatures and docstrings ----------------------


def _commands(cls: type) -> list[str]:
    return [name for name, value in vars(cls).items() if callable(value) and not name.startswith("_")]


def _subparsers(parser: Any) -> dict[str, Any]:
    (action,) = [a for a in parser._actions if a.dest.startswith("_launcher")]
    return dict(action.choices)


@pytest.mark.parametrize(("cls", "path"), [(DataCommands, []), (CacheCommands, ["cache"])])
def test_every_command_has_a_sub_command_and_every_option_a_parameter(cls: type, path: list[str]) -> None:
    parser, _ = COMMAND_LINE.parser()
    for name in path:
        parser = _subparsers(parser)[name]
    commands = _subparsers(parser)
    assert set(_commands(cls)) <= set(commands) and set(commands) - set(_commands(cls)) <= {"cache"}
    for name in _commands(cls):
        function = getattr(cls, name)
        names = [p for p, _, _ in parameters(function)]
        dests = {a.dest for a in commands[name]._actions if a.dest not in ("help", "_command")}
        assert dests == set(names), name
        documented = docstring(function)
        # the help of every argument comes from the docstring, and the docstring names no parameter gone since
        assert set(documented.args) == set(names), name
        assert documented.summary and commands[name].description.startswith(documented.summary)


def test_a_parameter_without_command_line_form_or_with_two_meanings_is_refused_when_building() -> None:
    class Counted:
        """Commands."""

        def run(self, count: int = 3) -> None:
            """Run."""

    with pytest.raises(TypeError, match="count: int = 3 has no command-line form"):
        CommandLine(Counted(), "x").parser()

    class TwoMeanings:
        """Commands."""

        def a(self, fast: bool = False) -> None:
            """A."""

        def b(self, fast: str | None = None) -> None:
            """B."""

    with pytest.raises(TypeError, match="--fast is a switch elsewhere, a value here"):
        CommandLine(TwoMeanings(), "x").parser()


def test_docstring_args_give_help_and_metavar_and_a_percent_sign_is_safe(capsys: pytest.CaptureFixture[str]) -> None:
    class Tool:
        """A tool."""

        def fill(self, path: str, level: str | None = None, quiet: bool = False) -> None:
            """Fill PATH.

            Details stay as written:
              - one
              - two

            Args:
                path: what to fill
                level (PERCENT): how full, e.g. 50% or
                    a continuation line
                quiet: say nothing
            """

    with pytest.raises(SystemExit) as done:
        CommandLine(Tool(), "tool").run(["fill", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "usage: tool fill [options] PATH" in out
    assert "Details stay as written:\n  - one\n  - two" in out and "Args:" not in out
    assert "--level PERCENT" in out and "50% or a continuation line" in out and "say nothing" in out


# -- the spellings scripts use -------------------------------------------------------------------------------


def test_a_command_line_builds_only_the_command_it_names_with_the_same_result() -> None:
    whole, _ = COMMAND_LINE.parser()
    for argv in (["ls", "u", "--long"], ["cache", "prune", "--all"], ["sync", "a", "b", "--include=x,y"]):
        parser, _ = COMMAND_LINE.parser(argv)
        assert list(_subparsers(parser)) == argv[:1] and vars(parser.parse_args(argv)) == vars(whole.parse_args(argv))
    assert list(_subparsers(COMMAND_LINE.parser(["lss"])[0])) == list(_subparsers(whole))  # for the error's list


def test_defaults() -> None:
    assert parse("sync", "a", "b") == ("sync", {
        "src": "a", "dst": "b", "delete": False, "checksum": False, "include": None, "exclude": None,
        "dry_run": False, "progress": None, "follow_symlinks": False,
    })  # fmt: skip
    assert parse("cache", "prune") == ("prune", {"url": None, "max_size": None, "all": False})


@pytest.mark.parametrize("spelling", ["--dry-run", "--dry_run", "--dry-run=true", "--dry_run=True", "--dry-run=1"])
def test_switch_spellings(spelling: str) -> None:
    assert parse("cp", "a", "b", spelling)[1]["dry_run"] is True


@pytest.mark.parametrize("spelling", ["--dry-run=false", "--dry_run=False", "--dry-run=0", "--no-dry-run"])
def test_a_switch_turned_off(spelling: str) -> None:
    assert parse("cp", "a", "b", "--dry-run", spelling)[1]["dry_run"] is False


@pytest.mark.parametrize(
    ("spelling", "value"),
    [((), None), (("--progress",), True), (("--no-progress",), False), (("--progress=False",), False),
     (("--progress=true",), True), (("--no_progress",), False)],
)  # fmt: skip
def test_progress_is_on_off_or_left_to_the_terminal(spelling: Sequence[str], value: bool | None) -> None:
    assert parse("sync", "a", "b", *spelling)[1]["progress"] is value


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--delete", "True"], {"delete": True}),  # fire took a separate true/false as the switch's value
        (["--dry_run", "false", "--delete", "TRUE"], {"dry_run": False, "delete": True}),
        (["--noprogress"], {"progress": False}),  # fire's --noNAME
        (["--nodelete"], {"delete": False}),
        (["-c", "-p", "-f"], {"checksum": True, "progress": True, "follow_symlinks": True}),  # fire's one-letter flags
        (["-i", "*.txt", "-e", "x"], {"include": ["*.txt"], "exclude": ["x"]}),
    ],
)
def test_fire_era_forms(argv: list[str], expected: dict[str, Any]) -> None:
    arguments = parse("sync", "a", "b", *argv)[1]
    assert {name: arguments[name] for name in expected} == expected and arguments["src"] == "a"


def test_one_letter_flags_only_where_the_letter_is_unambiguous() -> None:
    assert parse("cp", "-r", "-d", "a", "b")[1] | {"src": "a"} == parse("cp", "--recursive", "--dry-run", "a", "b")[1]
    assert parse("ls", "-rl", "u")[1] == {"url": "u", "recursive": True, "long": True}
    with pytest.raises(SystemExit):  # sync has --delete and --dry-run: no -d (fire refused it too)
        parse("sync", "a", "b", "-d")


def test_flags_anywhere_and_underscored_names() -> None:
    name, arguments = parse("cp", "--recursive", "a", "--follow_symlinks", "b", "--follow-symlinks")
    assert (name, arguments["src"], arguments["dst"], arguments["recursive"], arguments["follow_symlinks"]) == (
        "cp", "a", "b", True, True,
    )
    assert parse("cache", "prune", "--max_size", "50g")[1]["max_size"] == "50g"
    assert parse("cache", "prune", "--max-size=50g")[1]["max_size"] == "50g"
    assert parse("ls", "obs://b/x", "--recursive", "--long")[1] == {"url": "obs://b/x", "recursive": True, "long": True}


@pytest.mark.parametrize(
    ("argv", "patterns"),
    [
        (["--include", "*.txt"], ["*.txt"]),
        (["--include=*.txt"], ["*.txt"]),
        (["--include", "*.txt,*.json"], ["*.txt", "*.json"]),
        (["--include", "*.txt", "--include", "*.json"], ["*.txt", "*.json"]),
        (["--include", "[a,b]"], ["a", "b"]),  # fire's list form
        (["--include", "['*.txt', '*.json']"], ["*.txt", "*.json"]),
        (["--include", "[ab]*.txt"], ["[ab]*.txt"]),  # a glob's character class stays a glob
        (["--include", "a_b*"], ["a_b*"]),  # values are never respelled
        (["--include", ""], []),
    ],
)
def test_pattern_spellings(argv: list[str], patterns: list[str]) -> None:
    assert _patterns(parse("sync", "a", "b", *argv)[1]["include"]) == patterns


def test_after_double_dash_everything_is_a_positional() -> None:
    assert parse("cp", "--", "--dry_run", "-x")[1] | {"dry_run": False} == parse("cp", "a", "b")[1] | {
        "src": "--dry_run", "dst": "-x"}  # fmt: skip


def test_the_spellings_reach_the_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tree(tmp_path / "src", {"a.txt": b"a", "b.json": b"b", "c.log": b"c", "sub/d.txt": b"d"})
    main(["data", "sync", str(tmp_path / "src"), str(tmp_path / "dry"), "--dry_run=true"])
    assert not (tmp_path / "dry").exists() and "would copy 4" in capsys.readouterr().out
    main(["data", "cp", str(tmp_path / "src"), "obs://bucket/x/", "--recursive=True", "--include", "[*.txt,*.json]",
          "--exclude", "sub/*", "--progress=False"])
    main(["data", "cp", "obs://bucket/x/", str(tmp_path / "out"), "--recursive"])
    assert read_tree(tmp_path / "out") == {"a.txt": b"a", "b.json": b"b"}


# -- help and usage errors, as the real command prints them --------------------------------------------------


@pytest.mark.parametrize("argv", [["--help"], ["ls", "--help"], ["sync", "-h"], ["cache", "--help"],
                                  ["cache", "prune", "--help"]])  # fmt: skip
def test_help_exits_0(argv: list[str]) -> None:
    done = launcher("data", *argv)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("usage: launcher data")


def test_every_help_text_is_printable_text(capsys: pytest.CaptureFixture[str]) -> None:
    # A docstring is terminal output here: an escape sequence in one (a non-raw "\x1b") would reach the terminal.
    for argv in (["--help"], *([name, "--help"] for name in ("ls", "cp", "sync", "rm", "du", "cache")),
                 ["cache", "ls", "--help"], ["cache", "prune", "--help"]):  # fmt: skip
        with pytest.raises(SystemExit):
            COMMAND_LINE.run(argv)
        out = capsys.readouterr().out
        assert out and all(c.isprintable() or c == "\n" for c in out), argv


def test_help_lists_commands_and_options() -> None:
    top = launcher("data", "--help").stdout
    for name in ("ls", "cp", "sync", "rm", "du", "cache"):
        assert f"\n    {name} " in top
    assert "--debug" in top and "Exit codes" in top
    cp = launcher("data", "cp", "--help").stdout
    assert cp.startswith("usage: launcher data cp [options] SRC DST\n")
    for flag in ("-r, --recursive", "-i, --include PATTERN", "-e, --exclude PATTERN", "-d, --dry-run",
                 "-p, --progress, --no-progress", "-f, --follow-symlinks"):
        assert flag in cp


@pytest.mark.parametrize(
    ("argv", "usage", "error"),
    [
        (["ls", "obs://b/", "--bogus"], "launcher data ls [options] URL", "unrecognized arguments: --bogus"),
        (["ls", "obs://b/", "--rec"], "launcher data ls [options] URL", "unrecognized arguments: --rec"),
        (["cp", "a"], "launcher data cp [options] SRC DST", "the following arguments are required: DST"),
        (["sync", "a", "b", "--include"], "launcher data sync [options] SRC DST", "--include: expected one argument"),
        (["ls", "x", "--recursive=maybe"], "launcher data ls [options] URL", "ignored explicit argument 'maybe'"),
        (["lss", "x"], "launcher data COMMAND [options] ...", "invalid choice: 'lss'"),
        ([], "launcher data COMMAND [options] ...", "the following arguments are required: COMMAND"),
        (["cache"], "launcher data cache COMMAND [options] ...", "the following arguments are required: COMMAND"),
        (["cache", "prune", "--max_siz", "1g"], "launcher data cache prune [options]", "unrecognized arguments: --max_siz 1g"),
    ],
)  # fmt: skip
def test_a_usage_error_is_one_usage_line_and_one_error_line_exit_2(argv: list[str], usage: str, error: str) -> None:
    done = launcher("data", *argv)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0] == f"usage: {usage}"
    assert lines[1].startswith(f"{usage.split(' [')[0].removesuffix(' COMMAND')}: error: ") and error in lines[1]


def test_a_usage_error_masks_a_secret_and_stays_one_line() -> None:
    secret = "sEcReT-value-1234"
    done = launcher("data", "ls", "obs://b/", f"--key={secret}\x1b[31m", env={"SECRET_ACCESS_KEY": secret})
    assert done.returncode == 2
    assert secret not in done.stderr and "***" in done.stderr and "\x1b" not in done.stderr
    assert len(done.stderr.splitlines()) == 2


def test_a_commands_own_error_is_one_line_with_its_exit_code(tmp_path: Path) -> None:
    done = launcher("data", "cp", str(tmp_path / "nothing"), "obs://b/x")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"launcher: error: nothing at {tmp_path / 'nothing'}: no such file or object"]


def test_through_launcher_cli_main_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from launcher.cli import main as cli_main

    write_tree(tmp_path / "src", {"a.txt": b"a"})
    cli_main(["data", "sync", str(tmp_path / "src"), "obs://bucket/c", "--dry_run=false"])
    cli_main(["data", "ls", "obs://bucket/c"])
    assert capsys.readouterr().out.splitlines()[-1] == "obs://bucket/c/a.txt"
    with pytest.raises(SystemExit) as done:
        cli_main(["data", "ls", "obs://bucket/c", "--bogus"])
    assert done.value.code == 2


# -- held to fire's own parsing: the library this command line replaced ----------------------------------------


def _fire_parse(argv: list[str]) -> tuple[str, dict[str, Any]]:
    """What fire (still the rest of the CLI's parser) calls for argv on a class with DataCommands' signatures."""
    import functools
    import inspect

    import fire

    calls: list[tuple[str, dict[str, Any]]] = []

    def recording(function: Any) -> Any:
        signature = inspect.signature(getattr(function, "__wrapped__", function))

        @functools.wraps(function)
        def record(self: object, *args: Any, **kwargs: Any) -> None:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            calls.append((function.__name__, {k: v for k, v in bound.arguments.items() if k != "self"}))

        return record

    names = [name for name in _commands(DataCommands) if name != "cache"]
    recorder = type("Recorder", (), {name: recording(getattr(DataCommands, name)) for name in names})
    fire.Fire(recorder, command=argv, name="launcher data")
    (call,) = calls
    return call


def _comparable(arguments: dict[str, Any]) -> dict[str, Any]:
    # fire hands `--include '*.txt'` over as a str, argparse as a list: the command reads both with _patterns
    return {k: _patterns(v) if k in ("include", "exclude") else v for k, v in arguments.items()}


@pytest.mark.parametrize(
    "argv",
    [
        ["ls", "obs://b/x/"],
        ["ls", "obs://b/x/", "--recursive", "--long"],
        ["ls", "obs://b/x/", "-r"],
        ["cp", "/d", "obs://b/d/", "--recursive", "--include", "*.txt", "--exclude", "a,b"],
        ["cp", "/d", "obs://b/d/", "--include", "[a,b]", "--follow_symlinks"],
        ["sync", "/d", "obs://b/d/", "--delete", "--dry_run", "--progress=False"],
        ["sync", "/d", "obs://b/d/", "--dry-run", "--noprogress", "--checksum"],
        ["sync", "/d", "obs://b/d/", "--delete", "True", "--progress"],
        ["sync", "obs://b/d/", "/d", "--follow-symlinks=True", "--exclude", "*.tmp"],  # fire: "=true" is a str
        ["rm", "obs://b/x/", "--recursive"],
        ["du", "obs://b/"],
    ],
)
def test_each_command_line_means_what_it_meant_to_fire(argv: list[str]) -> None:
    name, arguments = parse(*argv)
    fire_name, fire_arguments = _fire_parse(argv)
    assert (name, _comparable(arguments)) == (fire_name, _comparable(fire_arguments))
