"""A command line built with argparse from a class of commands: what fire did for `launcher data`, without
fire's start-up (measured on 2 vCPU: importing fire ~55 ms beyond asyncio, its call-time introspection ~25 ms;
this module reads no signature through `inspect`, which alone costs ~13 ms to import).

One description per command, the method; the parser is derived from it, so the two cannot drift:

    def cp(self, src: str, dst: str, recursive: bool = False, include: str | Sequence[str] | None = None):
        '''One summary line (the command list shows it).

        More text (the command's --help shows it as written).

        Args:
            src: the help line of SRC
            recursive: the help line of --recursive
        '''

Each parameter's form comes from its annotation and default; anything else is refused (TypeError) when its
command's parser is built, so a new parameter cannot go unnoticed (the tests build every command):

    name: str                                    a positional argument, NAME
    name: bool = False                           a switch: --name (also --name=true|false, --no-name)
    name: bool | None = None                     --name / --no-name; None when neither is given
    name: str | None = None                      an option with a value: --name VALUE
    name: str | Sequence[str] | None = None      repeatable: --name A --name B, passed on as a list

An option whose first letter no other option of its command starts with also has that letter as a short flag
(`-r` for `--recursive`; fire's rule; never `-h`).

A public class attribute holding a command class's instance is a group (`launcher data cache ls`). Flags are
spelled with dashes; fire's other spellings are accepted too (`_normalize`). Prefixes are not (`--rec` for
`--recursive`): a flag added later would silently change what one means; a one-letter flag that a later option
makes ambiguous is refused with a usage error instead.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from types import FunctionType
from typing import Any, NamedTuple, NoReturn

from launcher.errors import one_line
from launcher.redact import redact

_REQUIRED = object()  # a parameter without default
_POSITIONAL, _SWITCH, _TRISTATE, _VALUE, _REPEATED = "positional", "switch", "tristate", "value", "repeated"
# (annotation as written, has a default) -> form on the command line
_FORMS = {
    ("str", False): _POSITIONAL,
    ("bool", True): _SWITCH,
    ("bool | None", True): _TRISTATE,
    ("str | None", True): _VALUE,
    ("str | Sequence[str] | None", True): _REPEATED,
}
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_CO_VARARGS, _CO_VARKEYWORDS = 0x04, 0x08


class _Parser(argparse.ArgumentParser):
    """argparse's parser whose error line is one line with secrets masked (the user may have pasted a key)."""

    command = False  # a command's own parser (no sub-commands below it)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {one_line(redact(message))}\n")

    def parse_known_args(  # type: ignore[override]
        self, args: list[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        # argparse hands a sub-command's unknown flags up to the top parser, whose usage line says nothing of the
        # command's options: refuse them here, with the command's own usage.
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and self.command:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


@functools.cache
def _terminal_width() -> int:
    """shutil.get_terminal_size().columns without importing shutil (with bz2 and lzma: ~5 ms of a data command),
    which argparse's formatter does; argparse makes one for every argument it adds, not only to print help."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):  # no stdout, or not a terminal
            columns = 0
    return columns if columns > 0 else 80


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as the docstrings wrote them (paragraphs, lists); option lines wrapped to the terminal."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_terminal_width() - 2)  # what argparse subtracts from shutil's width

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if action.option_strings and action.nargs != 0:  # `-i, --include PATTERN`, not the metavar twice
            return f"{', '.join(action.option_strings)} {self._format_args(action, action.dest.upper())}"
        return super()._format_action_invocation(action)


_GROUP_USAGE = "%(prog)s COMMAND [options] ..."


class _Switch(argparse.Action):
    """A flag without a value: True, or False when spelled `--no-NAME`."""

    def __init__(self, option_strings: list[str], dest: str, default: Any = None, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, not (option_string or "").startswith("--no-"))


def parameters(function: Callable[..., Any]) -> Iterator[tuple[str, str, Any]]:
    """(name, annotation, default or _REQUIRED) of a method's parameters after `self`, in order."""
    function = getattr(function, "__wrapped__", function)  # through functools.wraps decorators
    code = function.__code__
    if code.co_kwonlyargcount or code.co_flags & (_CO_VARARGS | _CO_VARKEYWORDS):
        raise TypeError(f"{function.__qualname__}: only plain parameters have a command-line form")
    names = code.co_varnames[1 : code.co_argcount]
    defaults = function.__defaults__ or ()
    annotations = function.__annotations__
    first_default = len(names) - len(defaults)
    for index, name in enumerate(names):
        annotation = annotations.get(name)
        if not isinstance(annotation, str):  # a module without `from __future__ import annotations`
            annotation = getattr(annotation, "__name__", str(annotation))
        yield name, annotation, defaults[index - first_default] if index >= first_default else _REQUIRED


def form(function: Callable[..., Any], name: str, annotation: str, default: Any) -> str:
    """How one parameter is given on the command line (module docstring); TypeError for one that has no form."""
    found = _FORMS.get((annotation, default is not _REQUIRED))
    expected_default = {_POSITIONAL: _REQUIRED, _SWITCH: False}.get(found or "", None)
    if found is None or default is not expected_default:
        given = annotation if default is _REQUIRED else f"{annotation} = {default!r}"
        raise TypeError(f"{function.__qualname__}: parameter {name}: {given} has no command-line form")
    return found


class Doc(NamedTuple):
    summary: str  # the first line: the command list shows it
    description: str  # the text before `Args:`, as written: the command's --help shows it
    args: dict[str, tuple[str | None, str]]  # parameter -> (METAVAR from `name (METAVAR): help`, help)


def docstring(function: Callable[..., Any] | type) -> Doc:
    """The parts of a Google-style docstring the command line shows."""
    lines = (function.__doc__ or "").expandtabs().splitlines()
    summary = lines[0].strip() if lines else ""
    rest = lines[1:]
    indent = min((len(line) - len(line.lstrip()) for line in rest if line.strip()), default=0)
    body: list[str] = []
    args: dict[str, tuple[str | None, str]] = {}
    current: str | None = None
    in_args = False
    for line in (line[indent:] for line in rest):
        entry = line.startswith("    ") and not line.startswith("     ") and ":" in line
        if line.strip() == "Args:":
            in_args = True
        elif in_args and entry:
            head, _, text = line.strip().partition(":")
            current, _, metavar = head.partition(" (")
            args[current] = (metavar.rstrip(")") or None, text.strip())
        elif in_args and current is not None and line.startswith("     "):  # a continuation line
            args[current] = (args[current][0], f"{args[current][1]} {line.strip()}")
        elif in_args and line.strip():  # text after the section ends it
            in_args, current = False, None
            body.append(line)
        elif not in_args:
            body.append(line)
    return Doc(summary, "\n".join([summary, *body]).strip(), args)


def _dash(name: str) -> str:
    return name.replace("_", "-")


def _add_command(parser: _Parser, function: Callable[..., Any], flags: dict[str, str]) -> None:
    """A command's arguments, from its signature; their help and metavars from its docstring's Args."""
    documented = docstring(function).args
    arguments = [(name, form(function, name, annotation, default)) for name, annotation, default in parameters(function)]
    # fire's one-letter flags: the first letter of an option no other option of the command starts with (-r)
    initials = [name[0] for name, kind in arguments if kind != _POSITIONAL]
    positionals: list[str] = []
    for name, kind in arguments:
        if kind != _POSITIONAL and flags.setdefault(_dash(name), kind) != kind:
            # `--NAME=false` is rewritten before argparse knows the command: one meaning per name in the tree
            raise TypeError(f"{function.__qualname__}: --{_dash(name)} is a {flags[_dash(name)]} elsewhere, a {kind} here")
        metavar, text = documented.get(name, (None, ""))
        metavar = metavar or name.upper()
        help_text = text.replace("%", "%%") or None  # argparse %-formats help: a literal % must not break it
        short = [f"-{name[0]}"] if initials.count(name[0]) == 1 and name[0] != "h" else []
        flag = f"--{_dash(name)}"
        if kind == _POSITIONAL:
            positionals.append(metavar)
            parser.add_argument(name, metavar=metavar, help=help_text)
        elif kind == _TRISTATE:  # --no-NAME is the only way to say "off" where None means "decide for me"
            parser.add_argument(*short, flag, f"--no-{_dash(name)}", dest=name, action=_Switch, default=None,
                                help=help_text)
        elif kind == _SWITCH:  # --no-NAME is accepted (what `--NAME=false` becomes), not shown
            parser.add_argument(*short, flag, dest=name, action=_Switch, default=False, help=help_text)
            parser.add_argument(f"--no-{_dash(name)}", dest=name, action=_Switch, default=False, help=argparse.SUPPRESS)
        else:
            action = "append" if kind == _REPEATED else "store"
            parser.add_argument(*short, flag, dest=name, metavar=metavar, action=action, help=help_text)
    parser.usage = " ".join(["%(prog)s", "[options]", *positionals])
    parser.command = True
    parser.set_defaults(_command=function)


def _add_group(parser: _Parser, commands: object, flags: dict[str, str], chosen: Sequence[str] = ()) -> None:
    """A sub-command per public method, then a group per public attribute holding a command class's instance.

    When `chosen` starts with one of their names, only that one is built: a command line names one command,
    and building the others (~0.3 ms each on 2 vCPU, mostly gettext looking for translations of argparse's
    words) would change no line it prints. Any other start (`--help`, a typo) builds them all."""
    members = {name: value for cls in reversed(type(commands).__mro__) for name, value in vars(cls).items()
               if not name.startswith("_")}  # fmt: skip
    functions = [name for name, value in members.items() if isinstance(value, FunctionType)]
    groups = [name for name in members if name not in functions]
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest=f"_{parser.prog}", required=True)
    for name in [chosen[0]] if chosen and chosen[0] in members else functions + groups:
        value = getattr(commands, name)
        if name in groups and type(value).__module__ == "builtins":
            raise TypeError(f"{type(commands).__qualname__}.{name}: neither a command nor a group of commands")
        doc = docstring(members[name] if name in functions else type(value))
        child = sub.add_parser(name, prog=f"{parser.prog} {name}", help=doc.summary, description=doc.description,
                               formatter_class=_Formatter, allow_abbrev=False, usage=_GROUP_USAGE)
        if name in functions:
            _add_command(child, value, flags)
        else:
            _add_group(child, value, flags, chosen[1:])


def _normalize(argv: Sequence[str], flags: dict[str, str]) -> list[str]:
    """fire's spellings in argparse's terms, so that scripts written for the fire CLI keep working:

        --dry_run              --dry-run
        --progress=False       --no-progress       (also =true|false|yes|no|on|off|1|0, any case)
        --delete True          --delete            (a switch followed by a separate true/false: fire's value)
        --noprogress           --no-progress

    Only a known flag's name changes (never a value); an unknown flag stays as typed for argparse's error line,
    and so does an unknown value of a switch (`--recursive=maybe`); everything after `--` is left alone."""
    switches = {name for name, kind in flags.items() if kind in (_SWITCH, _TRISTATE)}
    known = set(flags) | {f"no-{name}" for name in switches}
    out: list[str] = []
    items = list(argv)
    while items:
        token = items.pop(0)
        if token == "--":
            return [*out, token, *items]
        if token.startswith("--"):
            name, eq, value = token[2:].partition("=")
            name = _dash(name)
            if name.startswith("no") and not name.startswith("no-") and name[2:] in switches:
                name = f"no-{name[2:]}"
            if not eq and name in switches and items and items[0].lower() in ("true", "false"):
                eq, value = "=", items.pop(0)
            if eq and name in switches and value.lower() in _TRUE | _FALSE:
                token = f"--{name}" if value.lower() in _TRUE else f"--no-{name}"
            elif name in known:
                token = f"--{name}{eq}{value}"
        out.append(token)
    return out


class CommandLine:
    """The command line of a command class's instance; `run(argv)` parses and calls the chosen command."""

    def __init__(self, commands: object, prog: str, epilog: str | None = None) -> None:
        self.commands, self.prog, self.epilog = commands, prog, epilog

    def parser(self, argv: Sequence[str] = ()) -> tuple[_Parser, dict[str, str]]:
        """The parser for argv (every command when argv names none) and its flags: dashed name -> form."""
        parser = _Parser(prog=self.prog, usage=_GROUP_USAGE, description=docstring(type(self.commands)).description,
                         epilog=self.epilog, formatter_class=_Formatter, allow_abbrev=False)
        flags: dict[str, str] = {}
        _add_group(parser, self.commands, flags, argv)
        return parser, flags

    def parse(self, argv: Sequence[str]) -> tuple[Callable[..., Any], dict[str, Any]]:
        """(the command, its keyword arguments); SystemExit as argparse raises it (0 after --help, 2 on an error)."""
        parser, flags = self.parser(argv)
        found = vars(parser.parse_args(_normalize(argv, flags)))
        command = found.pop("_command")
        return command, {name: value for name, value in found.items() if not name.startswith("_")}

    def run(self, argv: Sequence[str]) -> None:
        command, arguments = self.parse(argv)
        command(**arguments)
