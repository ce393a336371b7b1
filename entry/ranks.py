"""The rank supervisor: one process per rank, the same command, fail fast. Every backend's ranks run under it.

    python -m entry.ranks RANKS.json     (Docker: all ranks of a job in one container)

and, as a library, entry/pod_ranks.py (a Volcano pod's ranks) and launcher/backends/local/supervisor.py (the
local backend's detached supervisor, which adds the job record around it).

- One process group for all ranks, led by the first (pgid = its pid; this supervisor stays outside the group).
  A signal to the group reaches every rank and every child a rank started in it. The local backend's cancel
  signals the supervisor, and the group directly (its pgid is in the job record) only when the supervisor is gone
  or the grace period is over (SIGKILL).
- SIGTERM and SIGINT to this process are forwarded to the group, the same everywhere (`docker stop`, the kubelet,
  the local supervisor's own SIGTERM). Handlers are installed before the first rank starts, so a stop that
  arrives while ranks are starting still reaches all of them. A stop sender owns its own escalation to SIGKILL
  (`docker stop`, the pod's grace period, `launcher stop`): after a forwarded stop this process never kills.
- Fail fast: when a rank fails, the others get SIGTERM at once (they push their outputs and exit), and SIGKILL
  after FAIL_FAST_GRACE seconds if they have not. The result is the first failure: its rank and exit code
  (killed by signal N: 128+N), optionally written to a result file that the launcher reads.
- When every rank has ended, whatever is left in the group (a daemon, an orphaned worker) gets SIGKILL: nothing
  outlives the job. The entry's trainer runs in a session of its own; the entry stops it on SIGTERM.
- Output: a rank with a log file writes into it (stdout and stderr); the others inherit this process's stdout,
  each line labelled `[rank N] ` when several ranks share it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

from pydantic import BaseModel

from entry.contract import EXIT_FAILED, exit_code_of

FAIL_FAST_GRACE = 30.0  # after a rank failed: how long the others have to push and exit before SIGKILL
POLL_S = 0.1
READER_JOIN_S = 5.0  # a labelled stream held open by a process outside the group (the entry's trainer) is let go
FORWARDED = (signal.SIGTERM, signal.SIGINT)


class RankSpec(BaseModel):
    rank: int
    env: dict[str, str] = {}  # this rank's own variables (RANK_ID, DEVICE_ID, ...), over the common ones
    log_path: str | None = None  # None: this process's stdout


class RanksSpec(BaseModel):
    """What `python -m entry.ranks` runs (written by the Docker backend into the job folder)."""

    argv: list[str]
    ranks: list[RankSpec]
    result_file: str | None = None  # where {"rank": r, "exit_code": c} of the first failure goes


@dataclass(frozen=True)
class RankResult:
    rank: int  # the first rank to fail; 0 when all succeeded
    returncode: int  # as Popen reports it: negative when killed by that signal

    @property
    def exit_code(self) -> int:
        return exit_code_of(self.returncode)

    def to_json(self) -> str:
        return f'{{"rank": {self.rank}, "exit_code": {self.exit_code}}}'


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


class RankGroup:
    """The ranks of one job on this machine: `start`, `wait` (fail fast), `signal`; `forwarding` for stops."""

    def __init__(
        self,
        argv: Sequence[str],
        ranks: Sequence[RankSpec],
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
        fail_fast_grace: float = FAIL_FAST_GRACE,
    ) -> None:
        if not ranks:
            raise ValueError("a rank group needs at least one rank")
        self.argv = list(argv)
        self.ranks = list(ranks)
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.fail_fast_grace = fail_fast_grace
        self.children: list[subprocess.Popen[bytes]] = []
        self.stop_signal: signal.Signals | None = None
        self._readers: list[threading.Thread] = []
        self._write_lock = threading.Lock()

    @property
    def pgid(self) -> int:
        """The group's id: the first rank's pid (it leads the group)."""
        return self.children[0].pid

    def start(self) -> None:
        """Start every rank; on a failure to start one (OSError), the ones already started are killed first."""
        shared = sum(1 for r in self.ranks if r.log_path is None) > 1
        try:
            for rank in self.ranks:
                self.children.append(self._start(rank, label=shared))
        except OSError:
            if self.children:
                self.signal(signal.SIGKILL)
                for child in self.children:
                    child.wait()
            raise
        if self.stop_signal is not None:  # a stop arrived while the ranks were starting
            self.signal(self.stop_signal)

    def _start(self, rank: RankSpec, label: bool) -> subprocess.Popen[bytes]:
        log = open(rank.log_path, "ab", buffering=0) if rank.log_path else None  # noqa: SIM115 - the child owns it
        try:
            child = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env={**self.env, **rank.env},
                stdin=subprocess.DEVNULL,
                stdout=log or (subprocess.PIPE if label else None),
                stderr=subprocess.STDOUT if log or label else None,
                # The first rank leads a new group in this process's session; the others join it (a zombie leader still
                # holds the group until it is reaped, and nothing reaps before start returns).
                process_group=self.children[0].pid if self.children else 0,
            )
        finally:
            if log:
                log.close()
        if label and child.stdout is not None:
            label_bytes = f"[rank {rank.rank}] ".encode()
            reader = threading.Thread(target=self._relay, args=(child.stdout, label_bytes), daemon=True)
            reader.start()
            self._readers.append(reader)
        return child

    def _relay(self, stream: IO[bytes], label: bytes) -> None:
        for line in iter(stream.readline, b""):
            if not line.endswith(b"\n"):  # a last line without one: the next rank's line must not join it
                line += b"\n"
            with self._write_lock:  # whole lines: two ranks never interleave inside one
                sys.stdout.buffer.write(label + line)
                sys.stdout.buffer.flush()

    def signal(self, sig: signal.Signals) -> None:
        if self.children:
            _killpg(self.pgid, sig)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_signal = signal.Signals(signum)
        # stderr: the supervisor's own log (a container's or pod's log, the local supervisor.log), not a rank's
        os.write(2, f"launcher: {self.stop_signal.name}: stopping every rank\n".encode())
        self.signal(self.stop_signal)  # before start: `start` sends it once the ranks are up

    @contextlib.contextmanager
    def forwarding(self) -> Iterator[RankGroup]:
        """SIGTERM/SIGINT to this process go to the whole group while the block runs (main thread only)."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in FORWARDED}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def wait(self) -> RankResult:
        """Until every rank has ended; the first failure stops the others (fail fast). Then nothing of the group
        is left running."""
        first: RankResult | None = None
        deadline: float | None = None
        while True:
            running = False
            for rank, child in zip(self.ranks, self.children, strict=True):
                code = child.poll()  # every rank each round, so that each is reaped
                if code is None:
                    running = True
                elif code != 0 and first is None:
                    first = RankResult(rank.rank, code)
                    self.signal(signal.SIGTERM)  # the others cannot finish without this rank
                    if self.stop_signal is None:  # a stop's sender escalates by itself
                        deadline = time.monotonic() + self.fail_fast_grace
            if not running:
                break
            if deadline is not None and time.monotonic() > deadline:
                self.signal(signal.SIGKILL)
                deadline = None
            time.sleep(POLL_S)
        self.signal(signal.SIGKILL)  # leftovers of the ranks (daemons, orphaned workers) end with the job
        for reader in self._readers:
            reader.join(READER_JOIN_S)
        return first or RankResult(self.ranks[0].rank, 0)


def run(
    argv: Sequence[str],
    ranks: Sequence[RankSpec],
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    result_file: str | Path | None = None,
) -> int:
    """Start, forward stops, wait; the first failure's exit code (0 when every rank succeeded)."""
    group = RankGroup(argv, ranks, env=env, cwd=cwd)
    with group.forwarding():
        try:
            group.start()
        except OSError as error:
            print(f"launcher: cannot start the ranks: {error}", file=sys.stderr, flush=True)
            return EXIT_FAILED
        result = group.wait()
    if result_file is not None:
        Path(result_file).write_text(result.to_json())
    return result.exit_code


def main(args: Sequence[str]) -> int:
    if len(args) != 1:
        print("usage: python -m entry.ranks RANKS.json", file=sys.stderr)
        return 2
    spec = RanksSpec.model_validate_json(Path(args[0]).read_text())
    return run(spec.argv, spec.ranks, result_file=spec.result_file)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
