"""The one log-line splitter and the one `to_wire` every backend uses."""

from __future__ import annotations

import datetime

import pytest
from huaweicloudsdkmodelarts.v1 import Job, JobMetadata, Parameters
from kubernetes.client import V1ConfigMap, V1ObjectMeta

from launcher.backends.common import LineSplitter, lines, to_wire


def pieces_of(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64])
def test_lines_survive_pieces_that_split_lines_and_characters(size: int) -> None:
    data = "step 1 ✓\nstep 2 ✓\nno newline at the end".encode()
    assert list(lines(pieces_of(data, size))) == [
        "step 1 ✓\n",
        "step 2 ✓\n",
        "no newline at the end",
    ]


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_a_crlf_split_between_pieces_stays_one_line_end(size: int) -> None:
    data = b"first\r\nsecond\r\n\r\nthird\r\n"
    assert list(lines(pieces_of(data, size))) == [
        "first\r\n",
        "second\r\n",
        "\r\n",
        "third\r\n",
    ]


def test_a_crlf_split_between_text_pieces_is_not_an_extra_empty_line() -> None:
    splitter = LineSplitter()  # ModelArts feeds text: the "\r" arrives in one poll, the "\n" in the next
    assert splitter.feed("epoch 1\r") == []
    assert splitter.feed("\nepoch 2\r\n") == ["epoch 1\r\n", "epoch 2\r\n"]
    assert splitter.end() == []


def test_a_progress_bar_carriage_return_stays_inside_its_line() -> None:
    assert list(lines([b"10%\r50%\r100%\n", b"done"])) == ["10%\r50%\r100%\n", "done"]


def test_the_last_line_without_newline_is_yielded_once() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"a\nb") == ["a\n"]
    assert splitter.end() == ["b"]
    assert splitter.end() == []
    assert list(lines([])) == [] and list(lines([b""])) == []


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert list(lines([b"ok \xff\xfe bad\n", b"cut \xe2\x9c"])) == [
        "ok \ufffd\ufffd bad\n",
        "cut \ufffd",
    ]


def test_bytes_and_text_pieces_mix() -> None:
    assert list(lines([b"a", "b\n", b"c\n"])) == ["ab\n", "c\n"]


def test_to_wire_gives_the_kubernetes_json() -> None:
    config_map = V1ConfigMap(
        metadata=V1ObjectMeta(name="x", labels={"a": "b"}),
        data={"k": "v"},
        kind="ConfigMap",
    )
    assert to_wire(config_map) == {
        "data": {"k": "v"},
        "kind": "ConfigMap",
        "metadata": {"labels": {"a": "b"}, "name": "x"},
    }


def test_to_wire_gives_the_modelarts_json_with_wire_names_and_dates() -> None:
    job = Job(metadata=JobMetadata(name="n"), kind="job")
    assert to_wire(job) == {"kind": "job", "metadata": {"name": "n"}}
    assert to_wire([Parameters(name="p", value="1"), None]) == [
        {"name": "p", "value": "1"},
        None,
    ]
    assert to_wire({"when": datetime.date(2024, 1, 2), "pair": (1, 2)}) == {
        "when": "2024-01-02",
        "pair": [1, 2],
    }
