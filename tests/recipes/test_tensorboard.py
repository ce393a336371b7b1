"""The recipes' TensorFlow-free event writer (tensorboardX) produces files that TensorBoard and TensorFlow read back
exactly, on disk as soon as they are written, one file per writer."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recipes.common.tensorboard import EventWriter, NullWriter, summary_writer, tfrecord
from tests.recipes.conftest import read_events, scalar_series

REPO = Path(__file__).resolve().parents[2]


def test_tfrecord_framing() -> None:
    """Length, masked CRC32C of the length, data, masked CRC32C of the data (tensorflow's record_writer.cc)."""
    record = tfrecord(b"123456789")
    assert struct.unpack("<Q", record[:8])[0] == 9 and record[12:21] == b"123456789"
    crc = 0xE3069283  # the CRC-32C check value of "123456789" (RFC 3720)
    assert struct.unpack("<I", record[21:])[0] == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_tensorboard_reads_scalars_and_histograms(tmp_path: Path) -> None:
    weights = np.random.default_rng(0).normal(size=(84, 10))
    with EventWriter(tmp_path) as writer:
        for step in (10, 20, 30):
            writer.scalars(step, {"loss": 1.0 / step, "accuracy": step / 100})
        writer.histogram(30, "fc_3/weights", weights)
    assert scalar_series(tmp_path, "loss") == [(10, pytest.approx(0.1)), (20, pytest.approx(0.05)),
                                               (30, pytest.approx(1 / 30))]  # fmt: skip
    assert scalar_series(tmp_path, "accuracy") == [(10, pytest.approx(0.1)), (20, pytest.approx(0.2)),
                                                   (30, pytest.approx(0.3))]  # fmt: skip
    (histo,) = read_events(tmp_path).Histograms("fc_3/weights")
    value = histo.histogram_value
    assert histo.step == 30 and value.num == weights.size
    assert (value.min, value.max) == (weights.min(), weights.max())
    assert value.sum == pytest.approx(weights.sum()) and sum(value.bucket) == weights.size


def test_tags_are_written_as_given(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """tensorboardX would rename "Precision@1" to "Precision_1" (and log it): the curves keep metrics.json's names."""
    with EventWriter(tmp_path) as writer:
        writer.scalars(1, {"Precision@1": 0.5, "val loss (x)": 2.0})
        writer.histogram(1, "block 1/w@0", np.arange(4.0))
    events = read_events(tmp_path)
    assert set(events.Tags()["scalars"]) == {"Precision@1", "val loss (x)"}
    assert events.Tags()["histograms"] == ["block 1/w@0"]
    assert "illegal" not in caplog.text


def test_tensorflow_reads_the_records(tmp_path: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    with EventWriter(tmp_path) as writer:
        writer.scalars(7, {"loss": 0.5})
    events = list(tf.compat.v1.train.summary_iterator(str(writer.path)))
    assert events[0].file_version == "brain.Event:2"
    assert (events[1].step, events[1].summary.value[0].tag, events[1].summary.value[0].simple_value) == (7, "loss", 0.5)


def test_writer_needs_no_tensorflow(tmp_path: Path) -> None:
    """The GPU image has JAX and no TensorFlow: write with tensorflow (and tensorboard) unimportable."""
    code = (
        "import sys; sys.modules['tensorflow'] = None; sys.modules['tensorboard'] = None\n"
        "from pathlib import Path; from recipes.common.tensorboard import EventWriter\n"
        f"w = EventWriter(Path({str(tmp_path)!r})); w.scalars(3, {{'loss': 2.0}}); w.close()"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
    assert scalar_series(tmp_path, "loss") == [(3, 2.0)]


def test_events_are_on_disk_before_close_and_a_resumed_run_adds_a_file(tmp_path: Path) -> None:
    """The output pusher copies the folder while the job runs; a resumed job writes a second file next to the first
    and TensorBoard merges them by step."""
    first = EventWriter(tmp_path)
    first.scalars(1, {"loss": 1.0})
    assert scalar_series(tmp_path, "loss") == [(1, 1.0)]  # read while the writer is still open
    first.close()
    with EventWriter(tmp_path) as second:
        second.scalars(2, {"loss": 0.5})
    assert second.path != first.path and len(list(tmp_path.glob("events.out.tfevents.*"))) == 2
    assert scalar_series(tmp_path, "loss") == [(1, 1.0), (2, 0.5)]


def test_a_histogram_of_weights_with_nan_or_inf_is_still_written(tmp_path: Path) -> None:
    weights = np.array([[1.0, np.nan], [np.inf, 3.0]])
    with EventWriter(tmp_path) as writer:
        writer.histogram(5, "w", weights)
        writer.histogram(6, "empty", np.array([np.nan]))
    (histo,) = read_events(tmp_path).Histograms("w")
    assert histo.histogram_value.num == 2 and (histo.histogram_value.min, histo.histogram_value.max) == (1.0, 3.0)
    assert read_events(tmp_path).Histograms("empty")[0].histogram_value.num == 1


def test_only_the_chief_writes(tmp_path: Path) -> None:
    assert isinstance(summary_writer(tmp_path, is_chief=False), NullWriter) and not (tmp_path / "tensorboard").exists()
    writer = summary_writer(tmp_path, is_chief=True, folder="tb")
    writer.close()
    assert isinstance(writer, EventWriter) and writer.path.parent == tmp_path / "tb"
