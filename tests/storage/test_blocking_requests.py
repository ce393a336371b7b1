"""The blocking transport (S3Client(blocking=True), what `launcher data` uses for its few requests)."""

from __future__ import annotations

import asyncio

from launcher.storage.profiles import load_profile
from launcher.storage.s3client import S3Client


def test_a_cancelled_transfer_stops_its_parts_but_still_aborts_its_upload(s3: str) -> None:
    async def run() -> bytes:
        async with S3Client(load_profile(), blocking=True) as client:
            upload_id = (await client.create_multipart_upload(s3, "cancelled/big.bin")).upload_id
            client.abort_bulk()  # Ctrl-C mid-transfer: the part workers stop at once
            await client.abort_multipart_upload(s3, "cancelled/big.bin", upload_id)  # must still go out
            listed = await client.request("GET", s3, "", params={"uploads": "", "prefix": "cancelled/"})
            return upload_id.encode() + b"|" + listed.body

    upload_id, _, body = asyncio.run(run()).partition(b"|")
    assert upload_id and upload_id not in body  # no multipart upload left behind
