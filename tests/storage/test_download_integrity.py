"""Whole-object integrity of downloads of objects sent in parts (issue 16): the whole-object CRC the store keeps,
else the composite ETag, is checked.

Real SeaweedFS; the corruption comes from tests/reliability/faultproxy.py in `flip` mode, which inverts a byte of
an object's GET reply with the server's own status and headers (HTTP cannot see it; only the check can).
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import google_crc32c
import pytest

from launcher import storage
from launcher.storage import TransferConfig, TransferFailed
from launcher.storage.integrity import checkable_part_size, is_composite
from launcher.storage.stores import is_part_file
from tests.launcher.helpers import run_cli
from tests.reliability.faultproxy import FaultProxy
from tests.seaweed import ACCESS_KEY, SECRET_KEY
from tests.storage.helpers import boto3_client

MiB = 1 << 20
SMALL_PARTS = TransferConfig(multipart_threshold=5 * MiB, part_size=5 * MiB)


def _upload(tmp_path: Path, bucket: str, size: int, name: str = "big.bin") -> bytes:
    data = os.urandom(size)
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / name).write_bytes(data)
    storage.sync(str(tmp_path / "src"), f"s3://{bucket}/in", transfer=SMALL_PARTS)
    return data


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_our_multipart_upload_records_its_part_size_and_a_whole_object_crc32c(
    s3: str, seaweed, tmp_path: Path  # noqa: ANN001
) -> None:
    data = _upload(tmp_path, s3, 12 * MiB)
    head = boto3_client(seaweed.endpoint).head_object(Bucket=s3, Key="in/big.bin", ChecksumMode="ENABLED")
    assert head["ETag"].strip('"').endswith("-3")
    assert head["Metadata"]["partsize"] == str(5 * MiB)
    # The store checked every part's CRC32C and keeps the whole object's: the library's CRC of the bytes.
    assert head["ChecksumType"] == "FULL_OBJECT"
    assert head["ChecksumCRC32C"] == base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


def test_with_checksum_md5_the_parts_go_with_md5s_and_the_object_keeps_no_crc(
    s3: str, seaweed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    monkeypatch.setenv("S3_CHECKSUM", "md5")
    _upload(tmp_path, s3, 12 * MiB)
    head = boto3_client(seaweed.endpoint).head_object(Bucket=s3, Key="in/big.bin", ChecksumMode="ENABLED")
    assert head["ETag"].strip('"').endswith("-3") and head["Metadata"]["partsize"] == str(5 * MiB)
    assert not any(name.startswith("Checksum") for name in head)


def test_an_object_with_the_crc32_aws_tools_give_is_checked_in_any_ranges(
    s3: str, seaweed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    # What `aws s3 cp` / boto3 make by default: a whole-object CRC32, in parts of their size (6 + 7 MiB), no
    # part-size metadata. Downloaded in 5 MiB ranges, the ranges' CRCs are joined and checked.
    client = boto3_client(seaweed.endpoint)
    one, two = os.urandom(6 * MiB), os.urandom(7 * MiB)
    upload = client.create_multipart_upload(Bucket=s3, Key="aws/big.bin", ChecksumAlgorithm="CRC32",
                                            ChecksumType="FULL_OBJECT")["UploadId"]
    sent = []
    for n, body in enumerate((one, two), 1):
        reply = client.upload_part(Bucket=s3, Key="aws/big.bin", UploadId=upload, PartNumber=n, Body=body,
                                   ChecksumAlgorithm="CRC32")
        sent.append({"PartNumber": n, "ETag": reply["ETag"], "ChecksumCRC32": reply["ChecksumCRC32"]})
    client.complete_multipart_upload(Bucket=s3, Key="aws/big.bin", UploadId=upload, MultipartUpload={"Parts": sent},
                                     ChecksumType="FULL_OBJECT")
    config = TransferConfig(multipart_threshold=5 * MiB, part_size=5 * MiB)
    out = tmp_path / "out"
    with FaultProxy(seaweed.endpoint, "flip", failures=1) as proxy:
        monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
        with pytest.raises(TransferFailed) as info:
            storage.sync(f"s3://{s3}/aws", str(out), transfer=config)
        assert proxy.injected == 1
    assert "does not match the object's CRC32 " in info.value.report.failures[0].error
    assert _leftovers(out) == []
    monkeypatch.setenv("S3_ENDPOINT", seaweed.endpoint)
    storage.sync(f"s3://{s3}/aws", str(out), transfer=config)
    assert (out / "big.bin").read_bytes() == one + two


# Uploaded with a CRC32C (the default where the store keeps one), or with MD5s only: then the composite ETag.
CHECKS = [("auto", "does not match the object's CRC32C"), ("md5", "does not match the object's ETag")]


@pytest.mark.parametrize(("checksum", "message"), CHECKS)
@pytest.mark.parametrize("download_part_mib", [5, 8])
def test_a_corrupted_multipart_download_fails_naming_the_file_and_writes_nothing(
    download_part_mib: int, checksum: str, message: str, s3: str, seaweed, tmp_path: Path,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("S3_CHECKSUM", checksum)
    data = _upload(tmp_path, s3, 12 * MiB)
    out = tmp_path / "out"
    config = TransferConfig(multipart_threshold=5 * MiB, part_size=download_part_mib * MiB)
    with FaultProxy(seaweed.endpoint, "flip", failures=1) as proxy:
        monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
        with pytest.raises(TransferFailed) as info:
            storage.sync(f"s3://{s3}/in", str(out), transfer=config)
        assert proxy.injected == 1
    failure = info.value.report.failures[0]
    assert "big.bin" in failure.path and message in failure.error
    assert _leftovers(out) == []  # neither the file nor its temporary part file
    # The fault was in transit: the next run downloads the object whole, in whatever part size it uses.
    monkeypatch.setenv("S3_ENDPOINT", seaweed.endpoint)
    storage.sync(f"s3://{s3}/in", str(out), transfer=config)
    assert hashlib.md5((out / "big.bin").read_bytes()).digest() == hashlib.md5(data).digest()


@pytest.mark.parametrize(("checksum", "message"), CHECKS)
def test_the_cli_says_which_file_failed_in_one_line(
    checksum: str, message: str, s3: str, seaweed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    monkeypatch.setenv("S3_CHECKSUM", checksum)
    _upload(tmp_path, s3, 17 * MiB)  # multipart for the CLI's default 16 MiB threshold, in 5 MiB parts
    out = tmp_path / "out"
    with FaultProxy(seaweed.endpoint, "flip", failures=1000) as proxy:
        env = {"S3_ENDPOINT": proxy.endpoint, "ACCESS_KEY_ID": ACCESS_KEY, "SECRET_ACCESS_KEY": SECRET_KEY}
        result = run_cli("data", "sync", f"s3://{s3}/in", str(out), env=env, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "big.bin" in failed[0] and message in failed[0]
    assert _leftovers(out) == []


def test_an_object_sent_in_parts_by_another_tool_is_checked_only_when_its_parts_are_known(
    s3: str, seaweed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    client = boto3_client(seaweed.endpoint)
    one, two = os.urandom(6 * MiB), os.urandom(7 * MiB)
    for key, parts in (("x/one-part.bin", [one]), ("x/two-parts.bin", [one, two])):
        upload = client.create_multipart_upload(Bucket=s3, Key=key)["UploadId"]
        sent = []
        for n, body in enumerate(parts, 1):
            reply = client.upload_part(Bucket=s3, Key=key, UploadId=upload, PartNumber=n, Body=body)
            sent.append({"PartNumber": n, "ETag": reply["ETag"]})
        client.complete_multipart_upload(Bucket=s3, Key=key, UploadId=upload, MultipartUpload={"Parts": sent})
    out = tmp_path / "out"
    # Untouched: both download, no false alarm for the one whose part size is unknown (no partsize metadata).
    for threshold in (5 * MiB, 16 * MiB):  # the ranged path and the one-GET path
        storage.sync(f"s3://{s3}/x", str(out / str(threshold)), transfer=TransferConfig(multipart_threshold=threshold))
        assert (out / str(threshold) / "two-parts.bin").read_bytes() == one + two
        assert (out / str(threshold) / "one-part.bin").read_bytes() == one
    # Corrupted: the one-part object (its part is the whole object) is caught on both paths.
    for threshold in (5 * MiB, 16 * MiB):
        with FaultProxy(seaweed.endpoint, "flip", failures=1000) as proxy:
            monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
            with pytest.raises(TransferFailed) as info:
                storage.sync(
                    f"s3://{s3}/x/one-part.bin", str(out / "bad" / "one-part.bin"),
                    transfer=TransferConfig(multipart_threshold=threshold),
                )
        assert "does not match the object's ETag" in info.value.report.failures[0].error
        assert not (out / "bad" / "one-part.bin").exists()
        assert not any(is_part_file(p.name) for p in (out / "bad").glob("*")) if (out / "bad").exists() else True


@pytest.mark.parametrize(
    ("etag", "size", "headers", "expected"),
    [
        ("d41d8cd98f00b204e9800998ecf8427e", 10, {}, None),  # a plain ETag: never taken for an MD5 here
        ("0123456789abcdef0123456789abcdef-1", 10, {}, 10),  # one part: the whole object
        ('"0123456789abcdef0123456789abcdef-3"', 12, {"x-amz-meta-partsize": "5"}, 5),
        ("0123456789abcdef0123456789abcdef-3", 12, {"X-Amz-Meta-Partsize": "5"}, 5),
        ("0123456789abcdef0123456789abcdef-3", 12, {}, None),  # parts of unknown size
        ("0123456789abcdef0123456789abcdef-2", 12, {"x-amz-meta-partsize": "5"}, None),  # does not fit N
        ("0123456789abcdef0123456789abcdef-3", 12, {"x-amz-meta-partsize": "0"}, None),
        ("0123456789abcdef0123456789abcdef-3", 12, {"x-amz-meta-partsize": "x"}, None),
        ("not-an-etag-3", 12, {"x-amz-meta-partsize": "5"}, None),
        # Encrypted with KMS or the customer's key: part ETags are not MD5s. SSE-S3 (AES256) ones are.
        ("0123456789abcdef0123456789abcdef-1", 10, {"x-amz-server-side-encryption": "aws:kms"}, None),
        ("0123456789abcdef0123456789abcdef-1", 10, {"x-obs-server-side-encryption": "kms"}, None),
        ("0123456789abcdef0123456789abcdef-1", 10, {"x-amz-server-side-encryption-customer-algorithm": "AES256"}, None),
        ("0123456789abcdef0123456789abcdef-1", 10, {"x-amz-server-side-encryption": "AES256"}, 10),
    ],
)
def test_checkable_part_size(etag: str, size: int, headers: dict, expected: int | None) -> None:
    assert checkable_part_size(etag, size, headers) == expected
    assert is_composite(etag) == ("-" in etag and etag != "not-an-etag-3")
