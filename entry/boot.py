"""The boot core shared by the entry scripts: validate, sync in, train, push out, fail cleanly.

Order matters: hyperparameters are validated before any data moves (a typo costs seconds, not a dataset
download), and outputs are pushed at the end, on SIGTERM and after a crash, so nothing the trainer wrote is lost.
Exit codes: 0 done, 1 the trainer failed, 2 bad input, 143 stopped by SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from loguru import logger
from pydantic import BaseModel

from entry.environment import JobEnvironment
from entry.tee import Tee
from launcher import storage
from launcher.errors import UserError
from launcher.logs import setup_logging
from launcher.recipe import hyperparameters_class, import_ref, load_recipe, validate_hyperparameters

# ModelArts' defaults for the two channels (shared/MODELARTS.md).
DEFAULT_DATA_URL = "/home/ma-user/modelarts/inputs/data_url_0"
DEFAULT_TRAIN_URL = "/home/ma-user/modelarts/outputs/train_url_0/"
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED = 0, 1, 2, 143
FAILURE_LOG_LINES = 50


class Stopped(BaseException):
    """Raised in the main thread by SIGTERM/SIGINT; a BaseException so trainers' `except Exception` let it pass."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum: int, _frame: FrameType | None) -> None:
    raise Stopped(signum)


class BootArgs(BaseModel):
    data_url: str
    train_url: str
    recipe: Path
    hyperparameters: dict[str, Any]
    overrides: dict[str, Any]  # `--name=value` extras that the platform passes as job parameters


def _json_or_text(value: str) -> Any:
    """Platform parameters arrive as text: '2' -> 2, 'false' -> False, anything else stays a string."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _parse_extras(extras: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    items = list(extras)
    while items:
        item = items.pop(0)
        if not item.startswith("--"):
            continue
        name, eq, value = item[2:].partition("=")
        if not eq:
            value = items.pop(0) if items and not items[0].startswith("--") else "true"
        out[name.replace("-", "_")] = _json_or_text(value)
    return out


def parse_args(argv: Sequence[str]) -> BootArgs:
    parser = argparse.ArgumentParser(description="launcher entry: sync data in, train, push outputs")
    parser.add_argument("--data_url", default=DEFAULT_DATA_URL)
    parser.add_argument("--train_url", default=DEFAULT_TRAIN_URL)
    parser.add_argument("--recipe", required=True, help="recipe YAML, relative to the code dir")
    parser.add_argument("--hyperparameters", default="{}", help="JSON document, or @file.json")
    known, extras = parser.parse_known_args(argv)
    text = known.hyperparameters
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except ValueError as error:
        raise UserError(f"--hyperparameters is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise UserError("--hyperparameters must be a JSON object")
    return BootArgs(
        data_url=known.data_url,
        train_url=known.train_url,
        recipe=Path(known.recipe),
        hyperparameters=document,
        overrides=_parse_extras(extras),
    )


def resolve(args: BootArgs) -> tuple[BaseModel, Callable[[BaseModel, JobEnvironment], dict[str, float]]]:
    """The validated hyperparameters and the trainer function; UserError on anything wrong."""
    recipe = load_recipe(args.recipe)
    model = hyperparameters_class(recipe)
    known = {k: v for k, v in args.overrides.items() if k in model.model_fields}
    ignored = sorted(set(args.overrides) - set(known))
    if ignored:
        logger.info("platform arguments not used by {}: {}", recipe.name, ", ".join(ignored))
    values = {**recipe.hyperparameters, **args.hyperparameters, **known}
    hyperparameters = validate_hyperparameters(model, values)
    trainer = import_ref(recipe.trainer)
    if not callable(trainer):
        raise UserError(f"{recipe.trainer} is not callable")
    return hyperparameters, trainer


def _tail(path: Path, lines: int) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def write_failure(env: JobEnvironment, log_path: Path, exit_code: int, reason: str) -> None:
    failure = {
        "job_id": env.job_id,
        "exit_code": exit_code,
        "reason": reason,
        "time": time.time(),
        "last_log_lines": _tail(log_path, FAILURE_LOG_LINES),
    }
    (env.log_dir / "failure.json").write_text(json.dumps(failure, indent=2))


def push_outputs(env: JobEnvironment, train_url: str) -> None:
    try:
        report = storage.sync(str(env.output_dir), train_url)
        logger.info("pushed outputs to {}: {}", train_url, report)
    except Exception as error:  # a failed push must not hide the job's own outcome
        logger.error("pushing outputs to {} failed: {}", train_url, error)


def main(argv: Sequence[str], mode: str = "acc") -> int:
    setup_logging()
    env = JobEnvironment.from_env()
    env.output_dir.mkdir(parents=True, exist_ok=True)
    log_path = env.log_dir / f"{env.job_id}-proc-rank-{env.rank}-device-{env.device_id}.txt"
    tee = Tee(log_path)
    previous = {s: signal.signal(s, _raise_stopped) for s in (signal.SIGTERM, signal.SIGINT)}
    train_url: str | None = None
    try:
        args = parse_args(argv)
        train_url = args.train_url
        hyperparameters, trainer = resolve(args)
        logger.info("job {} ({} mode): hyperparameters {}", env.job_id, mode, hyperparameters.model_dump_json())
        started = time.monotonic()
        report = storage.sync(args.data_url, str(env.data_dir))
        logger.info("data {} -> {}: {} in {:.1f}s", args.data_url, env.data_dir, report, time.monotonic() - started)
        metrics = trainer(hyperparameters, env)
        (env.output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
        logger.info("metrics: {}", json.dumps(metrics, sort_keys=True))
        code = EXIT_OK
    except UserError as error:
        logger.error("{}", error)
        code = EXIT_BAD_INPUT
        write_failure(env, log_path, code, str(error))
    except Stopped as stop:
        logger.warning("received {}: pushing outputs and stopping", stop)
        code = EXIT_STOPPED
    except Exception as error:
        traceback.print_exc()
        code = EXIT_FAILED
        write_failure(env, log_path, code, f"{type(error).__name__}: {error}")
    finally:
        # A second SIGTERM must not cut the final push short; the backend's SIGKILL after its grace period is the backstop.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
    if train_url and code != EXIT_BAD_INPUT:  # bad input: nothing moves, in or out
        push_outputs(env, train_url)
    tee.close()
    if train_url and code != EXIT_BAD_INPUT:
        push_outputs(env, train_url)  # once more, so the stored log ends with the push report
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    return code
