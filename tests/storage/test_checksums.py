"""Whole-object CRCs (launcher/storage/checksums.py), held to the libraries: zlib for CRC32, google-crc32c (a second,
independent CRC32C library; ours runs on `crc32c`) for CRC32C.

`combine` is hand-written (no library exposes a CRC32C combine): for any split of any bytes, the CRC of the whole
must be what the library computes over the joined bytes.
"""

from __future__ import annotations

import base64
import zlib

import google_crc32c
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from launcher.storage import checksums

LIBRARY = {"crc32": zlib.crc32, "crc32c": google_crc32c.value}


@pytest.mark.parametrize("algorithm", checksums.ALGORITHMS)
@settings(max_examples=150, deadline=None)
@given(pieces=st.lists(st.binary(max_size=3000), max_size=6))
def test_running_and_combined_crcs_are_the_librarys(algorithm: str, pieces: list[bytes]) -> None:
    parts = []
    for piece in pieces:
        part = checksums.RunningCrc(algorithm)
        for start in range(0, len(piece), 700):  # fed in chunks, as a ranged download feeds it
            part.update(memoryview(bytearray(piece))[start : start + 700])
        parts.append(part)
        assert part.value == LIBRARY[algorithm](piece) and part.length == len(piece)
    assert checksums.combine_all(parts) == LIBRARY[algorithm](b"".join(pieces))


@pytest.mark.parametrize("algorithm", checksums.ALGORITHMS)
def test_combine_across_long_zero_runs_and_gigabyte_lengths(algorithm: str) -> None:
    # Lengths far past any table: 3 GiB of zeros after "a" is the same as the CRC shifted by 3 GiB.
    zeros = bytes(1 << 20)
    head, tail = b"launcher", LIBRARY[algorithm](zeros)
    assert checksums.combine(algorithm, LIBRARY[algorithm](head), tail, len(zeros)) == LIBRARY[algorithm](head + zeros)
    assert checksums.combine(algorithm, 0, 0, 3 << 30) == 0
    assert checksums.combine(algorithm, LIBRARY[algorithm](head), LIBRARY[algorithm](b""), 0) == LIBRARY[algorithm](head)


def test_the_standard_check_values() -> None:
    # CRC catalogue: CRC-32/ISO-HDLC and CRC-32/ISCSI of "123456789".
    assert checksums.crc_of("crc32", b"123456789") == 0xCBF43926
    assert checksums.crc_of("crc32c", b"123456789") == 0xE3069283


def test_the_header_form_is_base64_of_four_big_endian_bytes() -> None:
    value = google_crc32c.value(b"hello")
    assert checksums.encode(value) == base64.b64encode(value.to_bytes(4, "big")).decode()
    assert checksums.decode(checksums.encode(value)) == value
    for junk in ("", "abc", "AAAA-2", "vERafQ==-3", "AAAAAAAA", "!!!!", "AAAAAA=="[:-1]):
        assert checksums.decode(junk) is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-amz-checksum-crc32c": "IzX13A==", "x-amz-checksum-type": "FULL_OBJECT"}, ("crc32c", 0x2335F5DC)),
        ({"X-Amz-Checksum-Crc32": "vERafQ=="}, ("crc32", 0xBC445A7D)),  # a single PUT's: whole object, no type
        ({"x-amz-checksum-crc32c": "IzX13A==", "x-amz-checksum-type": "COMPOSITE"}, None),  # of the parts' CRCs
        ({"x-amz-checksum-crc32": "vERafQ==-2"}, None),
        ({"x-amz-checksum-sha256": "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="}, None),  # not one we check
        ({"etag": '"abc"'}, None),
    ],
)
def test_whole_object_checksum_of_a_head_reply(headers: dict[str, str], expected: tuple[str, int] | None) -> None:
    assert checksums.whole_object_checksum(headers) == expected
