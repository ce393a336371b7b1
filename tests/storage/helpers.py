"""Helpers shared by the storage tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

from launcher.storage.profiles import load_profile
from launcher.storage.s3client import S3Client


def make_bucket(endpoint: str, name: str) -> None:
    async def create() -> None:
        profile = load_profile(
            env={"S3_ENDPOINT": endpoint, "ACCESS_KEY_ID": "testkey", "SECRET_ACCESS_KEY": "testsecret"}
        )
        async with S3Client(profile) as client:
            await client.create_bucket(name)

    asyncio.run(create())


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def boto3_client(endpoint: str):  # noqa: ANN201 - botocore builds the client class at run time
    """boto3's S3 client on the test server: the vendor's view of what our code left there."""
    import boto3

    from tests.seaweed import ACCESS_KEY, SECRET_KEY

    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )
