"""Our TensorFlow-free event writer produces files that TensorBoard and TensorFlow read back exactly."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recipes.common.tensorboard import EventWriter, crc32c, masked_crc32c, tfrecord
from tests.recipes.conftest import read_events, scalar_series

REPO = Path(__file__).resolve().parents[2]


def test_crc32c_known_answers() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720 appendix)
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4: 32 bytes of zeros


def test_tfrecord_framing() -> None:
    record = tfrecord(b"abc")
    assert struct.unpack("<Q", record[:8])[0] == 3
    assert struct.unpack("<I", record[8:12])[0] == masked_crc32c(record[:8])
    assert record[12:15] == b"abc" and struct.unpack("<I", record[15:])[0] == masked_crc32c(b"abc")


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
