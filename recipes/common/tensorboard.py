"""TensorBoard event files without TensorFlow, on tensorboardX (protobuf only): the GPU image trains on JAX and has no
TF to write summaries with.

tensorboardX builds the events and summaries (`summary.scalar`, `summary.histogram`, its `Event` protobuf) and
computes the records' masked CRC32C. The TFRecord framing around them (length, CRC, data, CRC) is written here
rather than through tensorboardX's writers: `SummaryWriter` hands events to a background thread through a
multiprocessing queue and its flush() does not wait for that queue, and `EventsWriter` fsyncs every record
(~5 ms a write on the 2-vCPU test machine). A flush to the OS is what the output pusher needs, which copies
the folder while the job runs.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np
from tensorboardX import summary
from tensorboardX.proto.event_pb2 import Event
from tensorboardX.record_writer import masked_crc32c

FILE_VERSION = "brain.Event:2"


def tfrecord(data: bytes) -> bytes:
    """One TFRecord: uint64 length, masked CRC32C of the length, the data, masked CRC32C of the data (little-endian)."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


def _tagged(built: summary.Summary, tag: str) -> summary.Summary.Value:
    """The summary's one value under `tag` as given: tensorboardX would rewrite "Precision@1" to "Precision_1", and
    the curves must carry the names of metrics.json (TensorBoard reads any tag string)."""
    (value,) = built.value
    value.tag = tag
    return value


class EventWriter:
    """Appends scalar and histogram summaries to a new event file in `logdir` (one file per writer: a resumed
    job adds a file, and TensorBoard merges the files of a folder by step)."""

    def __init__(self, logdir: Path) -> None:
        logdir.mkdir(parents=True, exist_ok=True)
        ns = time.time_ns()
        now = ns / 1e9
        # TensorBoard reads a folder's files in name order and drops steps that go back: the name sorts by time (a
        # resumed job's file comes after the first one's); the host and pid keep two writers apart.
        stamp = f"{ns // 10**9:010d}.{ns % 10**9:09d}"
        name = f"events.out.tfevents.{stamp}.{socket.gethostname()}.{os.getpid()}"
        self.path = logdir / name
        self._file = self.path.open("xb")
        self._write_event(Event(wall_time=now, file_version=FILE_VERSION))

    def _write_event(self, event: Event) -> None:
        self._file.write(tfrecord(event.SerializeToString()))
        self._file.flush()  # on disk now: the output pusher copies the folder while the job runs

    def _write(self, step: int, values: list[summary.Summary.Value]) -> None:
        self._write_event(Event(wall_time=time.time(), step=step, summary=summary.Summary(value=values)))

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        """All of a step's scalars in one event."""
        self._write(step, [_tagged(summary.scalar("v", float(value)), tag) for tag, value in values.items()])

    def histogram(self, step: int, tag: str, values: np.ndarray, bins: int = 30) -> None:
        flat = np.asarray(values, dtype=np.float64).ravel()
        flat = flat[np.isfinite(flat)]  # a NaN or inf weight would make the whole histogram unreadable
        self._write(step, [_tagged(summary.histogram("v", flat if flat.size else np.zeros(1), bins), tag)])

    def close(self) -> None:
        self._file.close()

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
