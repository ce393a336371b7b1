"""`python -m launcher` (and the `launcher` command, with the entry point `launcher = "launcher.__main__:main"`).

`launcher data ...` is dispatched here, before the job machinery, the recipes and the backends are imported:
a data command pays only for what it uses (bench/cli_startup.py measures it). Everything else goes to
launcher.cli.
"""

from __future__ import annotations

import sys


def _data(args: list[str]) -> None:
    import fire

    from launcher.errors import UserError
    from launcher.logs import setup_logging
    from launcher.redact import redact
    from launcher.storage.cli import DataCommands

    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    setup_logging("DEBUG" if debug else "INFO")
    try:
        fire.Fire(DataCommands, command=args, name="launcher data")
    except UserError as error:
        if debug:
            raise
        print(f"launcher: error: {redact(str(error))}", file=sys.stderr)
        sys.exit(error.exit_code)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["data"]:
        _data(args[1:])
        return
    from launcher.cli import main as cli_main

    cli_main(args)


if __name__ == "__main__":
    main()
