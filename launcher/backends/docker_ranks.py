"""Several ranks in one container: `python -m launcher.backends.docker_ranks /job/ranks.json`.

A job with `--count N` is one container holding all its cards, so that Docker keeps one state, one exit code and
one OOM flag for the job. This runs inside it: the entry once per rank with that rank's environment, rank 0's
output on the container's stdout (what `docker logs` shows), the others' into their log files in the job folder.
When one rank fails the others get SIGTERM at once (fail fast); a SIGTERM to the container reaches every rank.
The exit code is that of the first rank to fail, and `ranks-result.json` says which rank it was.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from pydantic import BaseModel

RESULT_FILE = "ranks-result.json"
FAIL_FAST_GRACE = 30.0


class RankSpec(BaseModel):
    rank: int
    env: dict[str, str]
    log_path: str | None  # None: the container's stdout


class RanksSpec(BaseModel):
    argv: list[str]
    ranks: list[RankSpec]
    result_file: str


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def run(spec: RanksSpec) -> int:
    children: list[subprocess.Popen[bytes]] = []
    for rank in spec.ranks:
        log = open(rank.log_path, "ab", buffering=0) if rank.log_path else None  # noqa: SIM115 - the child owns it
        children.append(
            subprocess.Popen(
                spec.argv,
                env={**os.environ, **rank.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT if log else None,
                process_group=children[0].pid if children else 0,  # one group: one signal reaches every rank
            )
        )
        if log:
            log.close()
    pgid = children[0].pid

    def forward(signum: int, _frame: FrameType | None) -> None:
        _signal_group(pgid, signal.Signals(signum))

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    first_failure: tuple[int, int] | None = None
    deadline: float | None = None
    while [child.poll() for child in children].count(None):  # poll every rank each round (any() would stop early)
        for rank, child in zip(spec.ranks, children, strict=True):
            if first_failure is None and child.returncode not in (None, 0):
                first_failure = (rank.rank, child.returncode)
                _signal_group(pgid, signal.SIGTERM)
                deadline = time.monotonic() + FAIL_FAST_GRACE
        if deadline is not None and time.monotonic() > deadline:
            _signal_group(pgid, signal.SIGKILL)
        time.sleep(0.1)
    if first_failure is None:
        failed = next(((r.rank, c.returncode) for r, c in zip(spec.ranks, children, strict=True) if c.returncode), None)
        first_failure = failed
    rank, returncode = first_failure or (0, 0)
    code = returncode if returncode >= 0 else 128 - returncode
    Path(spec.result_file).write_text(json.dumps({"rank": rank, "exit_code": code}))
    return code


if __name__ == "__main__":
    sys.exit(run(RanksSpec.model_validate_json(Path(sys.argv[1]).read_text())))
