"""Multipart uploads ask the store for a whole-object CRC (profile `checksum`, issue 16), and cope with one that
has none: real SeaweedFS behind tests/reliability/faultproxy.py playing a store that ignores the checksum
headers (never confirms one) or refuses them (400 InvalidArgument, as some S3-compatible stores answer headers
they do not know).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from launcher import storage
from launcher.storage import TransferConfig, TransferFailed
from tests.reliability.faultproxy import FaultProxy
from tests.storage.helpers import boto3_client

MiB = 1 << 20
SMALL_PARTS = TransferConfig(multipart_threshold=5 * MiB, part_size=5 * MiB)


def _files(root: Path, count: int) -> dict[str, bytes]:
    root.mkdir()
    found = {f"big{n}.bin": os.urandom(11 * MiB) for n in range(count)}
    for name, data in found.items():
        (root / name).write_bytes(data)
    return found


def _open_uploads(endpoint: str, bucket: str) -> list[dict]:
    return boto3_client(endpoint).list_multipart_uploads(Bucket=bucket).get("Uploads", [])


@pytest.mark.parametrize("fault", ["ignore-checksums", "refuse-checksums"])
def test_auto_uploads_with_md5s_to_a_store_without_checksums_and_the_download_is_still_checked(
    fault: str, s3: str, seaweed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    files = _files(tmp_path / "src", 2)
    with FaultProxy(seaweed.endpoint, fault, failures=0) as proxy:  # type: ignore[arg-type]
        monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
        report = storage.sync(str(tmp_path / "src"), f"s3://{s3}/in", transfer=SMALL_PARTS)
        assert report.copied == 2
        # A refusing store is asked once per client, not once per file.
        assert proxy.injected == (1 if fault == "refuse-checksums" else 0)
        storage.sync(f"s3://{s3}/in", str(tmp_path / "out"), transfer=SMALL_PARTS)
    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    # Without a CRC the download falls back on the composite ETag: a corrupted byte is still caught.
    with FaultProxy(seaweed.endpoint, "flip", failures=1) as proxy:
        monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
        with pytest.raises(TransferFailed) as info:
            storage.sync(f"s3://{s3}/in/big0.bin", str(tmp_path / "again.bin"), transfer=SMALL_PARTS)
    # Refused: the store keeps no CRC, the ETag is checked. Ignored: SeaweedFS keeps the CRC32C it was asked for
    # and computed itself (the proxy only hid its confirmations: parts that went with a CRC would have failed).
    checked = "ETag" if fault == "refuse-checksums" else "CRC32C"
    assert f"does not match the object's {checked}" in info.value.report.failures[0].error
    assert not (tmp_path / "again.bin").exists()
    assert _open_uploads(seaweed.endpoint, s3) == []


def test_auto_sends_the_upload_again_with_md5s_when_a_part_is_not_confirmed(
    s3: str, seaweed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    files = _files(tmp_path / "src", 2)
    with FaultProxy(seaweed.endpoint, "unconfirmed-parts", failures=0) as proxy:  # type: ignore[arg-type]
        monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
        report = storage.sync(str(tmp_path / "src"), f"s3://{s3}/in", transfer=SMALL_PARTS)
    assert report.copied == 2
    monkeypatch.setenv("S3_ENDPOINT", seaweed.endpoint)
    storage.sync(f"s3://{s3}/in", str(tmp_path / "out"), transfer=SMALL_PARTS)
    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data
        head = boto3_client(seaweed.endpoint).head_object(Bucket=s3, Key=f"in/{name}", ChecksumMode="ENABLED")
        assert "ChecksumCRC32C" not in head  # sent again without asking for one: the parts went with MD5s
    assert _open_uploads(seaweed.endpoint, s3) == []  # the first attempt was aborted


@pytest.mark.parametrize(("fault", "says"), [
    ("ignore-checksums", "did not confirm a CRC32C checksum"),
    ("refuse-checksums", "InvalidArgument"),
    ("unconfirmed-parts", "did not confirm part"),
])
def test_checksum_crc_fails_in_one_line_on_a_store_without_checksums_and_leaves_no_upload(
    fault: str, says: str, s3: str, seaweed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    _files(tmp_path / "src", 1)
    monkeypatch.setenv("S3_CHECKSUM", "crc")
    with FaultProxy(seaweed.endpoint, fault, failures=0) as proxy:  # type: ignore[arg-type]
        monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
        with pytest.raises(TransferFailed) as info:
            storage.sync(str(tmp_path / "src"), f"s3://{s3}/in", transfer=SMALL_PARTS)
    failure = info.value.report.failures[0]
    assert says in failure.error and "\n" not in failure.error
    assert boto3_client(seaweed.endpoint).list_objects_v2(Bucket=s3).get("KeyCount") == 0
    assert _open_uploads(seaweed.endpoint, s3) == []


def test_the_storage_profile_and_botocores_switch_choose_md5(monkeypatch: pytest.MonkeyPatch) -> None:
    from launcher.storage.profiles import load_profile

    assert load_profile(env={}).checksum == "auto"
    assert load_profile(env={"S3_CHECKSUM": "md5"}).checksum == "md5"
    # botocore's own switch for stores that refuse its CRC headers means the same here.
    assert load_profile(env={"AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED"}).checksum == "md5"
    assert load_profile(env={"AWS_REQUEST_CHECKSUM_CALCULATION": "when_supported"}).checksum == "auto"
    assert load_profile(env={"S3_CHECKSUM": "crc", "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required"}).checksum == "crc"
    with pytest.raises(Exception, match="checksum"):
        load_profile(env={"S3_CHECKSUM": "sha256"})
