"""`python -m launcher` (and the `launcher` command, with the entry point `launcher = "launcher.__main__:main"`).

`launcher data ...` is dispatched here, before the job machinery, the recipes and the backends are imported:
a data command pays only for what it uses (bench/cli_startup.py measures it). Everything else goes to
launcher.cli.
"""

from __future__ import annotations

import atexit
import os
import sys


def _exit_now(code: int) -> None:
    """End a finished `data` command without the interpreter's teardown.

    Measured on 2 vCPU when a data command still loaded pydantic and fire: tearing down its modules took
    ~0.15 s, a quarter of `launcher data ls` then. Everything the process promised is done by then: the command
    has returned, the exit handlers run here (the storage loop closes its connection pools) and the standard
    streams are flushed; the threads left are idle pool workers.
    """
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is None:  # not CPython: exit the ordinary way
        sys.exit(code)
    run_exit_handlers()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe (`| head`): what the interpreter's own exit reports for it
        code = code or 120
    os._exit(code)


_DATA_EPILOG = """\
URLs: obs://bucket/key and s3://bucket/key (the profile's endpoint; without one, the embedded store under
LAUNCHER_HOME), or local paths. --debug (anywhere) shows an error's traceback.
Exit codes: 0 done; 2 something to fix (bad URL or flag, unknown bucket, credentials, access denied);
75 the store unreachable or failing after retries (re-run later); 130 Ctrl-C."""


def _data(args: list[str], exit_now: bool = False) -> None:
    from launcher.argcommands import CommandLine
    from launcher.errors import UserError
    from launcher.logs import setup_logging
    from launcher.redact import redact
    from launcher.storage.cli import DataCommands

    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    setup_logging("DEBUG" if debug else "INFO")
    if exit_now:
        # The process ends with this command: its few metadata requests go over http.client (no aiohttp).
        from launcher.storage.session import prefer_blocking_requests

        prefer_blocking_requests()
    code = 0
    try:
        # argparse, not fire, for start-up: see launcher/argcommands.py.
        CommandLine(DataCommands(), "launcher data", epilog=_DATA_EPILOG).run(args)
    except SystemExit as done:  # --help (0) or a usage error (2), already printed by argparse
        code = done.code if isinstance(done.code, int) else 1
    except UserError as error:
        if debug:
            raise
        print(f"launcher: error: {redact(str(error))}", file=sys.stderr)
        code = error.exit_code
    if exit_now:
        _exit_now(code)
    if code:
        sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["data"]:
        # The process's own command line (not a caller's list): it may end the process as soon as it is done.
        _data(args[1:], exit_now=argv is None)
        return
    from launcher.cli import main as cli_main

    cli_main(args)


if __name__ == "__main__":
    main()
