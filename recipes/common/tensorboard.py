"""TensorBoard event files without TensorFlow, on tensorboardX (protobuf only): the GPU image trains on JAX and has no
TF to write summaries with.

tensorboardX builds the summaries (`summary.scalar`, `summary.histogram`) and frames the records with their CRCs
(`EventsWriter`). Its `SummaryWriter` is not used: it hands events to a background thread through a
multiprocessing queue, and its flush() does not wait for that queue, so what is on disk would lag behind what was
logged; the output pusher copies the folder while the job runs.

bench/tensorboard_writer.py compares it with the hand-written writer it replaced (see the closing note for figures).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np
from tensorboardX import summary
from tensorboardX.event_file_writer import EventsWriter
from tensorboardX.proto.event_pb2 import Event

FILE_VERSION = "brain.Event:2"  # what EventsWriter writes first in every file, as TensorFlow does


class EventWriter:
    """Appends scalar and histogram summaries to a new event file in `logdir` (one file per writer: a resumed
    job adds a file, and TensorBoard merges the files of a folder by step)."""

    def __init__(self, logdir: Path) -> None:
        logdir.mkdir(parents=True, exist_ok=True)
        # EventsWriter names a file by second and host. TensorBoard reads a folder's files in name order and drops
        # steps that go back, so the suffix sorts by time within the second (a resumed job's file comes after the
        # first one's), and the pid keeps two writers of one host apart.
        suffix = f".{time.time_ns() % 10**9:09d}.{os.getpid()}"
        self._writer = EventsWriter(str(logdir / "events"), filename_suffix=suffix)
        self._writer.flush()
        (self.path,) = logdir.glob(f"events.out.tfevents.*{suffix}")

    def _write(self, step: int, values: list[summary.Summary.Value]) -> None:
        self._writer.write_event(Event(wall_time=time.time(), step=step, summary=summary.Summary(value=values)))
        self._writer.flush()  # on disk now: the output pusher copies the folder while the job runs

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        """All of a step's scalars in one event."""
        self._write(step, [v for tag, value in values.items() for v in summary.scalar(tag, float(value)).value])

    def histogram(self, step: int, tag: str, values: np.ndarray, bins: int = 30) -> None:
        flat = np.asarray(values, dtype=np.float64).ravel()
        flat = flat[np.isfinite(flat)]  # a NaN or inf weight would make the whole histogram unreadable
        self._write(step, list(summary.histogram(tag, flat if flat.size else np.zeros(1), bins).value))

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class NullWriter:
    """What non-chief ranks get: they share the chief's output_url and must not write a second set of events."""

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        pass

    def histogram(self, step: int, tag: str, values: np.ndarray, bins: int = 30) -> None:
        pass

    def close(self) -> None:
        pass


def summary_writer(output_dir: Path, is_chief: bool, folder: str = "tensorboard") -> EventWriter | NullWriter:
    return EventWriter(output_dir / folder) if is_chief else NullWriter()
