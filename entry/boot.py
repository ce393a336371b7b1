"""The boot core shared by the entry scripts: validate, sync in, restore, train, push out, fail cleanly.

Order matters: hyperparameters are validated before any data moves (a typo costs seconds, not a dataset
download); the trainer runs in a child process so that this one outlives it (out of memory, SIGKILL) and still
pushes outputs and writes failure.json; outputs are pushed while it runs, on SIGTERM and at the end. A job is done
only once its outputs are stored: a final push that still fails after retries makes it an infrastructure failure.
Exit codes (entry/contract.py): 0 done, 1 the trainer raised, 2 bad input, EXIT_INFRA (75) storage or disk failed
(restartable), 143 stopped, 128+N the trainer was killed by signal N. entry/failure.classify maps errors to them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from filelock import FileLock
from pydantic import BaseModel

from entry import failure, legacy, perf
from entry.args import BootArgs, help_requested, help_text, parse_args, typed_extras
from entry.contract import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INFRA, EXIT_OK, EXIT_STOPPED
from entry.credentials import load_credentials
from entry.datacache import prepare_data
from entry.environment import JobEnvironment
from entry.pusher import PeriodicPusher, final_push, push
from entry.restore import RestoreFailed, restore_latest
from entry.tee import Tee
from entry.trainer_process import ERROR_FILE_BYTES, TrainerSpec
from launcher.errors import UserError
from launcher.logs import logger, setup_logging
from launcher.recipe import (
    LegacyHyperparameters,
    LegacyScripts,
    Recipe,
    hyperparameters_class,
    load_recipe,
    validate_hyperparameters,
)
from launcher.redact import redact

CODE_DIR = Path(__file__).resolve().parent.parent  # the folder holding entry/, launcher/, recipes/


class Stopped(BaseException):
    """SIGTERM/SIGINT before the trainer started; a BaseException so no `except Exception` swallows it."""


class Plan(BaseModel):
    """What the trainer process runs, after every check passed."""

    name: str
    argv: list[str]
    hyperparameters: dict[str, Any]
    cwd: Path | None = None  # where the trainer runs; None: the code folder


def _legacy_plan(name: str, code_dir: Path, script: str, env: JobEnvironment, values: dict[str, Any]) -> Plan:
    cwd = legacy.prepare(code_dir, script, env.work_dir)
    argv = legacy.argv(script, env.data_dir, env.output_dir, values)
    return Plan(name=name, argv=argv, hyperparameters=values, cwd=cwd)


def plan(args: BootArgs, env: JobEnvironment, mode: str, code_dir: Path) -> Plan:
    """Validate everything the user gave; UserError (exit 2) before anything moves."""
    perf_run = mode == "perf"
    if args.recipe is None:  # a ModelZoo code dir started by the platform as-is
        scripts = LegacyScripts()
        values = {**args.hyperparameters, **typed_extras(None, args.overrides)}
        script = scripts.perf if perf_run else scripts.full
        return _legacy_plan(code_dir.name, code_dir, script, env, values)
    recipe: Recipe = load_recipe(args.recipe)
    model = hyperparameters_class(recipe)
    if recipe.legacy is not None:
        values = {**recipe.hyperparameter_values(perf_run), **args.hyperparameters, **typed_extras(None, args.overrides)}
        hp = validate_hyperparameters(LegacyHyperparameters, values).model_dump(mode="json")
        script = recipe.legacy.perf if perf_run else recipe.legacy.full
        return _legacy_plan(recipe.name, code_dir, script, env, hp)
    # Platform extras the model does not know are someone else's (e.g. ModelArts' --init_method): pass them by.
    known = typed_extras(model, {k: v for k, v in args.overrides.items() if k in model.model_fields})
    ignored = sorted(set(args.overrides) - set(known))
    if ignored:
        logger.info("arguments not used by {}: {}", recipe.name, ", ".join(ignored))
    values = {**recipe.hyperparameter_values(perf_run), **args.hyperparameters, **known}
    hp = validate_hyperparameters(model, values).model_dump(mode="json")
    assert recipe.trainer is not None and recipe.hyperparameters_model is not None
    module = recipe.trainer.split(":", 1)[0]
    if importlib.util.find_spec(module) is None:  # checked without importing it (and keras) into this process
        raise UserError(f"trainer module {module!r} not found in {code_dir}")
    spec = TrainerSpec(
        trainer=recipe.trainer,
        hyperparameters_model=recipe.hyperparameters_model,
        hyperparameters=hp,
        metrics_file=env.work_dir / f"metrics-rank-{env.rank}.json",
        error_file=env.work_dir / f"error-rank-{env.rank}.json",
    )
    failure.reserve(spec.error_file, ERROR_FILE_BYTES)  # its report must fit even if the trainer fills the disk
    spec_file = env.work_dir / f"trainer-rank-{env.rank}.json"
    spec_file.write_text(spec.model_dump_json(indent=2))
    return Plan(name=recipe.name, argv=[sys.executable, "-m", "entry.trainer_process", str(spec_file)], hyperparameters=hp)


class TrainerRun:
    """The trainer child in its own process group: SIGTERM forwarded, SIGKILL after the grace period."""

    def __init__(self, argv: list[str], cwd: Path, env: JobEnvironment, grace: float) -> None:
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.grace = grace
        self.child: subprocess.Popen[bytes] | None = None
        self.stop_signal: int | None = None
        self._stop_at = 0.0

    @property
    def pgid_file(self) -> Path:
        # The local supervisor reads it to kill a trainer that this process can no longer kill.
        return self.env.work_dir / f"trainer-rank-{self.env.rank}.pgid"

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum
            self._stop_at = time.monotonic()
        if self.child is None:
            raise Stopped(signal.Signals(signum).name)
        self._signal_group(signal.SIGTERM)

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.child is not None:
            try:
                os.killpg(self.child.pid, sig)
            except ProcessLookupError:
                pass

    def run(self) -> int:
        """Returncode as Popen reports it (negative: killed by that signal)."""
        pythonpath = os.pathsep.join(filter(None, [str(self.cwd), str(CODE_DIR), os.environ.get("PYTHONPATH")]))
        self.child = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env={**os.environ, "PYTHONPATH": pythonpath},
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pgid_file.write_text(str(self.child.pid))
        try:
            while True:
                try:
                    return self.child.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    if self.stop_signal is not None and time.monotonic() - self._stop_at > self.grace:
                        logger.warning("trainer still running {:.0f}s after the stop signal: killing it", self.grace)
                        self._signal_group(signal.SIGKILL)
        finally:
            self._signal_group(signal.SIGKILL)  # leftovers of the trainer (workers, daemons) end with it
            self.pgid_file.unlink(missing_ok=True)


def _trainer_error(env: JobEnvironment) -> str | None:
    try:
        error = json.loads((env.work_dir / f"error-rank-{env.rank}.json").read_text())
        return redact(f"{error['type']}: {error['message']}")
    except (OSError, ValueError, KeyError, TypeError):  # none, or blank: the space reserved for it, unused
        return None


def _finish_success(env: JobEnvironment, mode: str) -> None:
    metrics_file = env.work_dir / f"metrics-rank-{env.rank}.json"
    metrics: dict[str, Any] = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    if env.is_chief and metrics:
        (env.output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
        logger.info("metrics: {}", json.dumps(metrics, sort_keys=True))
    if mode == "perf":
        perf.report(env, metrics)


def _setup_dirs(env: JobEnvironment) -> None:
    for folder in (env.work_dir, env.output_dir, env.log_dir, env.checkpoint_dir):
        folder.mkdir(parents=True, exist_ok=True)


def main(argv: Sequence[str], mode: str = "acc") -> int:
    if help_requested(argv):  # answered on stdout, before any job folder or log exists
        try:
            print(help_text(argv))
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
        return EXIT_OK
    setup_logging()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter is not the job's log
    try:
        load_credentials()  # before anything reads storage settings (docker: keys are a file, not the environment)
        env = JobEnvironment.from_env()
    except UserError as error:
        logger.error("{}", error)
        return EXIT_BAD_INPUT
    try:
        _setup_dirs(env)
        failure.reserve_report_space(env.work_dir)
        tee = Tee(env.log_file)
    except OSError as error:  # a job folder that cannot be written (full, read-only): the platform may retry
        logger.error("cannot prepare the job folder {}: {}", env.work_dir, failure.describe_error(error))
        return failure.classify(error)
    code_dir = Path.cwd()
    run: TrainerRun | None = None
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    train_url: str | None = None
    push_attempts = 3
    code = EXIT_FAILED
    try:
        args = parse_args(argv)
        push_attempts = args.push_attempts
        run = TrainerRun([], code_dir, env, args.stop_grace)
        for sig in previous:
            signal.signal(sig, run.on_signal)
        the_plan = plan(args, env, mode, code_dir)
        train_url = args.train_url
        run.argv = the_plan.argv
        run.cwd = the_plan.cwd or code_dir
        logger.info(
            "job {} rank {}/{} ({} run of {}): hyperparameters {}",
            env.job_id, env.rank, env.world_size, mode, the_plan.name, json.dumps(the_plan.hyperparameters),
        )
        prepare_data(args.data_url, env.data_dir)
        with FileLock(str(env.work_dir / "restore.lock")):  # ranks on a node share the checkpoint folder
            restore_latest(train_url, env.checkpoint_dir)
        oom_before = failure.oom_kills()
        with PeriodicPusher(env, train_url, interval=args.push_interval):
            returncode = run.run()
        code = _outcome(env, run, returncode, oom_before, mode)
    except Stopped as stop:
        logger.warning("received {} before training started: stopping", stop)
        code = EXIT_STOPPED
    except RestoreFailed as error:
        code = _failed(env, EXIT_INFRA, f"{error}; the job did not start, so that it cannot overwrite its checkpoints")
    except Exception as error:
        code = failure.classify(error)
        reason = failure.describe_error(error)
        if code == EXIT_BAD_INPUT:
            logger.error("{}", reason)
        elif code == EXIT_FAILED:  # a bug: the traceback helps (masked by the log sink)
            logger.opt(exception=error).error("boot failed: {}", reason)
            failure.write_failure(env.log_dir, env.job_id, code, reason, env.log_file)
        else:
            _failed(env, code, reason)
    finally:
        # A second SIGTERM must not cut the final push short; the backend's SIGKILL after its grace is the backstop.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
    if train_url and code != EXIT_BAD_INPUT:  # bad input: nothing moves, in or out
        code = _push_outputs(env, train_url, code, push_attempts)
    tee.close()
    if train_url and code != EXIT_BAD_INPUT:
        push(env, train_url)  # once more, so the stored log ends with the push
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    return code


def _failed(env: JobEnvironment, code: int, reason: str) -> int:
    logger.error("{}", reason)
    failure.write_failure(env.log_dir, env.job_id, code, reason, env.log_file)
    return code


def _push_outputs(env: JobEnvironment, train_url: str, code: int, attempts: int) -> int:
    """The final push, retried. A finished job whose outputs did not reach train_url is not done: EXIT_INFRA."""
    error = final_push(env, train_url, attempts=attempts)
    if error is None:
        return code
    reason = (
        f"outputs were not saved to {train_url} ({failure.describe_error(error)}); "
        f"the local copy is in {env.output_dir}"
    )
    if code == EXIT_OK:
        return _failed(env, EXIT_INFRA, reason)
    logger.error("{}", reason)  # the job failed already: its own reason stays the reason
    return code


def _outcome(env: JobEnvironment, run: TrainerRun, returncode: int, oom_before: int | None, mode: str) -> int:
    if returncode == 0:
        _finish_success(env, mode)
        return EXIT_OK
    if run.stop_signal is not None:
        logger.warning("stopped by {}: pushing outputs", signal.Signals(run.stop_signal).name)
        return EXIT_STOPPED
    code = failure.exit_code_of(returncode)
    reason = _trainer_error(env) or failure.describe_exit(returncode, oom_before, failure.oom_kills())
    signal_name = signal.Signals(-returncode).name if returncode < 0 else ""
    logger.error("trainer failed: {}", reason)
    failure.write_failure(env.log_dir, env.job_id, code, reason, env.log_file, signal_name)
    return code
