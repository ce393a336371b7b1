"""Which S3 client layer should the engine stand on? Small-object PUT and GET rates, one process each.

    python bench/sync/clients.py [--objects 2000] [--concurrency 64]

Compares, against one fresh SeaweedFS: boto3 (thread pool), s3fs (fsspec, async over aiobotocore),
aiobotocore directly, and launcher.storage.s3client (aiohttp + our SigV4). The engine uses the fastest.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedServer  # noqa: E402
from launcher.storage.profiles import load_profile  # noqa: E402
from launcher.storage.s3client import S3Client  # noqa: E402


def rate(label: str, count: int, run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    per_second = count / (time.perf_counter() - start)
    print(f"{label:38} {per_second:8.0f} objects/s", flush=True)
    return per_second


def boto3_case(
    endpoint: str, bucket: str, keys: list[str], body: bytes, threads: int
) -> tuple[Callable[[], None], Callable[[], None]]:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(
            max_pool_connections=threads,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"},
        ),
    )

    def put() -> None:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=f"boto3/{k}", Body=body), keys))

    def get() -> None:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda k: client.get_object(Bucket=bucket, Key=f"boto3/{k}")["Body"].read(), keys))

    return put, get


def s3fs_case(
    endpoint: str, bucket: str, keys: list[str], body: bytes, concurrency: int
) -> tuple[Callable[[], None], Callable[[], None]]:
    import s3fs

    fs = s3fs.S3FileSystem(
        key=ACCESS_KEY, secret=SECRET_KEY, client_kwargs={"endpoint_url": endpoint, "region_name": "us-east-1"}
    )

    def put() -> None:
        fs.pipe({f"{bucket}/s3fs/{k}": body for k in keys}, batch_size=concurrency)

    def get() -> None:
        fs.cat([f"{bucket}/s3fs/{k}" for k in keys], batch_size=concurrency)

    return put, get


def aiobotocore_case(
    endpoint: str, bucket: str, keys: list[str], body: bytes, concurrency: int
) -> tuple[Callable[[], None], Callable[[], None]]:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    async def run(op: str) -> None:
        session = get_session()
        config = AioConfig(max_pool_connections=concurrency, s3={"addressing_style": "path"})
        async with session.create_client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=config,
        ) as client:
            gate = asyncio.Semaphore(concurrency)

            async def one(key: str) -> None:
                async with gate:
                    if op == "put":
                        await client.put_object(Bucket=bucket, Key=f"aiobotocore/{key}", Body=body)
                    else:
                        resp = await client.get_object(Bucket=bucket, Key=f"aiobotocore/{key}")
                        async with resp["Body"] as stream:
                            await stream.read()

            await asyncio.gather(*(one(k) for k in keys))

    return (lambda: asyncio.run(run("put"))), (lambda: asyncio.run(run("get")))


def ours_case(
    endpoint: str, bucket: str, keys: list[str], body: bytes, concurrency: int
) -> tuple[Callable[[], None], Callable[[], None]]:
    profile = load_profile(env={"S3_ENDPOINT": endpoint, "ACCESS_KEY_ID": ACCESS_KEY, "SECRET_ACCESS_KEY": SECRET_KEY})

    async def run(op: str) -> None:
        async with S3Client(profile, max_connections=concurrency) as client:
            gate = asyncio.Semaphore(concurrency)

            async def one(key: str) -> None:
                async with gate:
                    if op == "put":
                        await client.put_object(bucket, f"ours/{key}", body)
                    else:
                        await client.get_object(bucket, f"ours/{key}")

            await asyncio.gather(*(one(k) for k in keys))

    return (lambda: asyncio.run(run("put"))), (lambda: asyncio.run(run("get")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--threads", type=int, default=16, help="boto3 thread pool size")
    args = parser.parse_args()
    keys = [f"d{i % 10}/f{i:06d}" for i in range(args.objects)]
    body = os.urandom(4096)
    with SeaweedServer() as server:
        asyncio.run(_create(server.endpoint, "clients"))
        print(f"{args.objects} x 4 KiB objects, SeaweedFS on loopback, {os.cpu_count()} CPUs")
        cases: tuple[tuple[str, Callable[[], tuple[Callable[[], None], Callable[[], None]]]], ...] = (
            (
                f"boto3, {args.threads} threads",
                lambda: boto3_case(server.endpoint, "clients", keys, body, args.threads),
            ),
            (
                f"s3fs pipe/cat, batch {args.concurrency}",
                lambda: s3fs_case(server.endpoint, "clients", keys, body, args.concurrency),
            ),
            (
                f"aiobotocore, {args.concurrency} in flight",
                lambda: aiobotocore_case(server.endpoint, "clients", keys, body, args.concurrency),
            ),
            (
                f"launcher s3client, {args.concurrency} in flight",
                lambda: ours_case(server.endpoint, "clients", keys, body, args.concurrency),
            ),
        )
        for label, case in cases:
            try:
                put, get = case()
            except ImportError as exc:
                print(f"{label:38} skipped ({exc})")
                continue
            rate(label + " PUT", len(keys), put)
            rate(label + " GET", len(keys), get)


async def _create(endpoint: str, bucket: str) -> None:
    profile = load_profile(env={"S3_ENDPOINT": endpoint, "ACCESS_KEY_ID": ACCESS_KEY, "SECRET_ACCESS_KEY": SECRET_KEY})
    async with S3Client(profile) as client:
        await client.create_bucket(bucket)


if __name__ == "__main__":
    main()
