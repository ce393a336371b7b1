"""The trainer's own process: `python -m entry.trainer_process SPEC.json`.

The boot core runs the trainer in a child so that it survives the trainer's death (out of memory, SIGKILL) and
can still push outputs and write failure.json. The spec holds the already-validated hyperparameters, so this
process validates nothing the user could get wrong. Metrics go to the file the spec names; an exception's
type and message to the error file, for the boot core's failure.json; both, and the traceback, with every secret
this process knows masked (the file is pushed with the outputs; the traceback lands in the job's log).
"""

from __future__ import annotations

import json
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType

from pydantic import BaseModel

from entry.contract import EXIT_FAILED, EXIT_OK, EXIT_STOPPED
from entry.reserved import overwrite
from entry.environment import JobEnvironment
from launcher.recipe import import_ref
from launcher.redact import redact


MESSAGE_LIMIT = 4000  # characters of an exception's message kept for failure.json (the log has all of it)
ERROR_FILE_BYTES = 16 * 1024  # what the boot core reserves for the error file


class TrainerSpec(BaseModel):
    trainer: str  # module:function
    hyperparameters_model: str
    hyperparameters: dict
    metrics_file: Path
    error_file: Path


class Stopped(BaseException):
    """SIGTERM/SIGINT in the trainer; BaseException so that a trainer's `except Exception` lets it through."""


def _stop(signum: int, _frame: FrameType | None) -> None:
    # Once is enough: a repeated signal must not interrupt the trainer's own clean-up.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise Stopped(signal.Signals(signum).name)


def run(spec: TrainerSpec) -> int:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        model = import_ref(spec.hyperparameters_model)
        trainer = import_ref(spec.trainer)
        metrics = trainer(model.model_validate(spec.hyperparameters), JobEnvironment.from_env())
        spec.metrics_file.write_text(json.dumps(metrics, indent=2, sort_keys=True))
        return EXIT_OK
    except Stopped as stop:
        print(f"trainer: stopped by {stop}", file=sys.stderr, flush=True)
        return EXIT_STOPPED
    except Exception as error:
        print(redact(traceback.format_exc()), end="", file=sys.stderr, flush=True)
        report = {"type": type(error).__name__, "message": redact(str(error))[:MESSAGE_LIMIT]}
        try:  # into the space the boot core reserved for it: this works on a full disk too
            overwrite(spec.error_file, json.dumps(report).encode())
        except OSError as write_error:  # a full disk: the traceback above is still in the log
            print(f"trainer: cannot write {spec.error_file}: {write_error.strerror}", file=sys.stderr, flush=True)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(run(TrainerSpec.model_validate_json(Path(sys.argv[1]).read_text())))
