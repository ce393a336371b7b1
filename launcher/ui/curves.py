"""Curves of a job: (step, value) series from progress.json's history, a recipe's history.json and the TensorBoard
event files in its outputs. Parsers only; outputs.py reads the bytes.

Event files are TFRecord streams of `tensorflow.Event` protos (tensorflow/core/lib/io/record_writer.cc):
`uint64 length | uint32 crc | data | uint32 crc`. The protos are parsed with tensorboardX's compiled event.proto;
the framing is four lines, so no TensorFlow or TensorBoard is needed at run time.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from pydantic import BaseModel

from entry.progress import ProgressReport

MAX_POINTS = 2000  # per series sent to the browser: enough for a curve, bounded for a long run
EVENT_FILE_MARK = "tfevents"
HISTORY_FILE = "history.json"


class Series(BaseModel):
    name: str  # the metric: loss, accuracy, ...
    source: str  # progress | history | tensorboard:<folder>
    points: list[tuple[float, float]]


def thin(points: list[tuple[float, float]], limit: int = MAX_POINTS) -> list[tuple[float, float]]:
    """Every k-th point (and always the last) so a series stays under `limit` points."""
    if len(points) <= limit:
        return points
    stride = math.ceil(len(points) / limit)
    kept = points[::stride]
    return kept if kept[-1] == points[-1] else [*kept, points[-1]]


def _series(source: str, by_name: dict[str, list[tuple[float, float]]]) -> list[Series]:
    out = []
    for name, points in sorted(by_name.items()):
        finite = sorted((s, v) for s, v in points if math.isfinite(v))
        if finite:
            out.append(Series(name=name, source=source, points=thin(finite)))
    return out


def from_progress(report: ProgressReport | None) -> list[Series]:
    if report is None:
        return []
    by_name: dict[str, list[tuple[float, float]]] = {}
    for point in report.history:
        step = point.get("step")
        if step is None:
            continue
        for name, value in point.items():
            if name != "step" and isinstance(value, int | float):
                by_name.setdefault(name, []).append((float(step), float(value)))
    return _series("progress", by_name)


def from_history(raw: bytes | None) -> list[Series]:
    """history.json as the recipes write it: {"loss": [[step, v], ...]} or {"train": [{"step": s, "k": v}], ...}."""
    if not raw:
        return []
    try:
        document = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(document, dict):
        return []
    by_name: dict[str, list[tuple[float, float]]] = {}
    for group, rows in document.items():
        if not isinstance(rows, list):
            continue
        for row in rows:
            if isinstance(row, list | tuple) and len(row) == 2 and all(isinstance(x, int | float) for x in row):
                by_name.setdefault(group, []).append((float(row[0]), float(row[1])))
            elif isinstance(row, dict) and isinstance(row.get("step"), int | float):
                for name, value in row.items():
                    if name != "step" and isinstance(value, int | float) and not isinstance(value, bool):
                        by_name.setdefault(f"{group}/{name}", []).append((float(row["step"]), float(value)))
    return _series("history", by_name)


def _records(data: bytes) -> list[bytes]:
    """The payloads of a TFRecord stream; a torn last record (the writer still running) is left out."""
    out, offset = [], 0
    while offset + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        end = offset + 12 + length + 4
        if end > len(data):
            break
        out.append(data[offset + 12 : offset + 12 + length])
        offset = end
    return out


def _scalar(value: Any) -> float | None:
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    if kind == "tensor":  # tf.summary v2 writes scalars as 0-d tensors
        tensor = value.tensor
        for field in (tensor.float_val, tensor.double_val, tensor.int64_val, tensor.int_val):
            if len(field) == 1:
                return float(field[0])
        if len(tensor.tensor_content) in (4, 8) and not tensor.tensor_shape.dim:
            return struct.unpack("<f" if len(tensor.tensor_content) == 4 else "<d", tensor.tensor_content)[0]
    return None


def from_event_file(data: bytes, source: str) -> list[Series]:
    from tensorboardX.proto.event_pb2 import Event  # protobuf import only when there are event files

    by_name: dict[str, list[tuple[float, float]]] = {}
    for record in _records(data):
        try:
            event = Event.FromString(record)
        except Exception:  # noqa: BLE001  (protobuf's DecodeError; a damaged record is skipped, not fatal)
            continue
        for value in event.summary.value:
            number = _scalar(value)
            if number is not None:
                by_name.setdefault(value.tag, []).append((float(event.step), number))
    return _series(source, by_name)


def event_source(relpath: str) -> str:
    folder = relpath.rsplit("/", 1)[0] if "/" in relpath else ""
    return "tensorboard" if folder in ("", "tensorboard") else f"tensorboard:{folder}"


def merge(series: list[Series]) -> list[Series]:
    """One series per (name, source): event files of one folder (a resumed job writes a new file) join by step."""
    joined: dict[tuple[str, str], dict[float, float]] = {}
    for s in series:
        joined.setdefault((s.name, s.source), {}).update(dict(s.points))
    return [Series(name=n, source=src, points=thin(sorted(p.items()))) for (n, src), p in sorted(joined.items())]
