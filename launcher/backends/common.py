"""What several backends share and none owns: log lines out of a stream, an SDK model as wire JSON, and the
entry's command line and rank variables for several ranks on one machine (local processes, one container).

Backend packages import this module and `base`, never each other.
"""

from __future__ import annotations

import codecs
import datetime
import json
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import entry
from entry.ranktable import single_server_table
from launcher.jobspec import JobSpec

HYPERPARAMETERS_FILE = "hyperparameters.json"
# Linux refuses to exec a command with one argument over 128 KiB (E2BIG); far below that, the document goes in
# a file in the job folder that the entry reads (`--hyperparameters=@file`), so a render stays readable too.
MAX_INLINE_HYPERPARAMETERS = 16 * 1024
RANK_TABLE = "rank_table.json"


def rank_log_name(rank: int) -> str:
    """A rank's log file in the job folder (local and Docker): rank 0's is the job's log."""
    return "job.log" if rank == 0 else f"job-rank-{rank}.log"


class LineSplitter:
    """Whole lines out of a log that arrives in pieces: a piece may end mid-line, mid-"\\r\\n" or mid-character.

    A line ends at "\\n" only (a "\\r\\n" stays whole; a lone "\\r", a progress bar redrawing, stays inside its
    line). Bytes are decoded as UTF-8 across pieces, invalid bytes shown as U+FFFD instead of failing the reader.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""

    def feed(self, piece: bytes | str) -> list[str]:
        text = self._decoder.decode(piece) if isinstance(piece, bytes) else piece
        *complete, self._partial = (self._partial + text).split("\n")
        return [line + "\n" for line in complete]

    def end(self) -> list[str]:
        """The last line when the log did not end with a newline (and any truncated character, as U+FFFD)."""
        rest = self._partial + self._decoder.decode(b"", final=True)
        self._partial = ""
        return [rest] if rest else []


def lines(pieces: Iterable[bytes | str]) -> Iterator[str]:
    """Every line of a stream of pieces, each with its newline (the last one without, if the stream had none)."""
    splitter = LineSplitter()
    for piece in pieces:
        yield from splitter.feed(piece)
    yield from splitter.end()


_PRIMITIVES = (str, int, float, bool, bytes)


def to_wire(model: Any) -> Any:
    """The JSON an OpenAPI-generated SDK (kubernetes, huaweicloudsdk*) puts on the wire for a model: its set
    attributes under their wire names (`attribute_map`), nested models, lists and dicts likewise, dates in ISO 8601.
    Both SDKs' own serializers do exactly this; one copy here serves both, without building an API client."""
    if model is None or isinstance(model, _PRIMITIVES):
        return model
    if isinstance(model, list | tuple):
        return [to_wire(item) for item in model]
    if isinstance(model, datetime.datetime | datetime.date):
        return model.isoformat()
    if isinstance(model, dict):
        return {key: to_wire(value) for key, value in model.items()}
    return {
        model.attribute_map[attr]: to_wire(getattr(model, attr))
        for attr in model.openapi_types
        if getattr(model, attr) is not None
    }


def entry_script(mode: str) -> Path:
    return Path(entry.__file__).resolve().parent / f"modelarts_entry_{mode}.py"


def hyperparameters_json(job: JobSpec) -> str:
    return json.dumps(job.hyperparameters, separators=(",", ":"), sort_keys=True)


def hyperparameters_argument(job: JobSpec, job_dir_in_job: str, files: dict[str, str]) -> str:
    """The entry's `--hyperparameters` argument: inline when small, else `@<job dir>/hyperparameters.json`
    (the document is added to `files`, which the backend writes into the job folder)."""
    document = hyperparameters_json(job)
    if len(document.encode()) <= MAX_INLINE_HYPERPARAMETERS:
        return f"--hyperparameters={document}"
    files[HYPERPARAMETERS_FILE] = document
    return f"--hyperparameters=@{job_dir_in_job}/{HYPERPARAMETERS_FILE}"


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def distributed_env(
    kind: str, cards: list[int], job_dir: Path
) -> tuple[dict[str, str], list[dict[str, str]], dict[str, str]]:
    """Common env, per-rank env and job files for several processes on one machine to find each other:
    an HCCL rank table for Ascend; JAX's coordinator settings and TF_CONFIG for GPU/CPU."""
    count = len(cards)
    if count == 1:
        return {}, [{}], {}
    if kind == "ascend":
        table = single_server_table(cards)
        return (
            {"RANK_TABLE_FILE": str(job_dir / RANK_TABLE)},
            [{} for _ in cards],
            {RANK_TABLE: table.to_json()},
        )
    coordinator, *workers = _free_ports(count + 1)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in workers]}
    common = {
        "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{coordinator}",
        "JAX_NUM_PROCESSES": str(count),
    }
    per_rank = [
        {
            "JAX_PROCESS_ID": str(r),
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": r}}),
        }
        for r in range(count)
    ]
    return common, per_rank, {}
