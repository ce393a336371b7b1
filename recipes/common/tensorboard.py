"""TensorBoard event files without TensorFlow: the GPU image trains on JAX and has no TF to write summaries with.

An event file is a TFRecord stream (tensorflow/core/lib/io/record_writer.cc): per record
`uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)`, little-endian, where
masked(c) = ((c >> 15 | c << 17) + 0xa282ead8) mod 2^32 and crc32c is CRC-32 with the Castagnoli polynomial.
Each record is a serialized `tensorflow.Event` (tensorflow/core/util/event.proto); the first one carries
`file_version: "brain.Event:2"`. The few protobuf fields needed are encoded by hand below (field numbers from
event.proto and summary.proto), so nothing here needs protobuf, tensorboard or tensorflow.
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

FILE_VERSION = "brain.Event:2"
_CRC32C_POLY = 0x82F63B78  # Castagnoli, reflected


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC32C_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


# --- protobuf wire format (only what Event/Summary/HistogramProto need) ------------------------------------------


def _varint(value: int) -> bytes:
    value &= 0xFFFFFFFFFFFFFFFF  # int64 negatives are 10-byte two's complement varints
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _double(field: int, value: float) -> bytes:
    return _key(field, 1) + struct.pack("<d", value)


def _float(field: int, value: float) -> bytes:
    return _key(field, 5) + struct.pack("<f", value)


def _int64(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def _bytes(field: int, value: bytes) -> bytes:
    return _key(field, 2) + _varint(len(value)) + value


def _packed_doubles(field: int, values: np.ndarray) -> bytes:
    return _bytes(field, np.asarray(values, dtype="<f8").tobytes())


def histogram_proto(values: np.ndarray, bins: int = 30) -> bytes:
    """HistogramProto: min 1, max 2, num 3, sum 4, sum_squares 5, bucket_limit 6, bucket 7 (right edges)."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        flat = np.zeros(1)
    counts, edges = np.histogram(flat, bins=bins)
    return (
        _double(1, float(flat.min())) + _double(2, float(flat.max())) + _double(3, float(flat.size))
        + _double(4, float(flat.sum())) + _double(5, float(np.square(flat).sum()))
        + _packed_doubles(6, edges[1:]) + _packed_doubles(7, counts.astype(np.float64))
    )  # fmt: skip


def event(step: int, wall_time: float, summary_values: list[bytes] | None = None, file_version: str = "") -> bytes:
    """Event: wall_time 1 (double), step 2 (int64), file_version 3 (string), summary 5 (Summary)."""
    out = _double(1, wall_time) + _int64(2, step)
    if file_version:
        out += _bytes(3, file_version.encode())
    if summary_values is not None:
        out += _bytes(5, b"".join(_bytes(1, v) for v in summary_values))  # Summary.value: field 1, repeated
    return out


def scalar_value(tag: str, value: float) -> bytes:
    """Summary.Value: tag 1, simple_value 2 (float)."""
    return _bytes(1, tag.encode()) + _float(2, float(value))


def histogram_value(tag: str, values: np.ndarray, bins: int = 30) -> bytes:
    """Summary.Value: tag 1, histo 5 (HistogramProto)."""
    return _bytes(1, tag.encode()) + _bytes(5, histogram_proto(values, bins))


class EventWriter:
    """Appends scalar and histogram summaries to a new event file in `logdir` (one file per writer: a resumed
    job adds a file, and TensorBoard merges the files of a folder by step)."""

    def __init__(self, logdir: Path) -> None:
        logdir.mkdir(parents=True, exist_ok=True)
        now = time.time()
        name = f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}.{time.monotonic_ns() % 10**6}"
        self.path = logdir / name
        self._file = self.path.open("ab")
        self._write(event(0, now, file_version=FILE_VERSION))

    def _write(self, data: bytes) -> None:
        self._file.write(tfrecord(data))
        self._file.flush()  # the output pusher copies what is on disk while the job runs

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        self._write(event(step, time.time(), [scalar_value(tag, v) for tag, v in values.items()]))

    def histogram(self, step: int, tag: str, values: np.ndarray, bins: int = 30) -> None:
        self._write(event(step, time.time(), [histogram_value(tag, values, bins)]))

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
