"""Which S3 client layer should the engine stand on? Small-object PUT and GET rates, one process each.

    python bench/sync/clients.py [--objects 2000] [--concurrency 64]

Compares, against one fresh SeaweedFS: boto3 (thread pool), s3fs (fsspec, async over aiobotocore),
aiobotocore directly, launcher.storage.s3client (our HTTP/1.1 transport, http11.py, + our SigV4), and the same
signed requests sent by aiohttp (the transport before http11). The engine uses the fastest. Each line gives the
process's CPU time too: on shared cores, what the client burns is taken from the server.

    python bench/sync/clients.py --tls   # HTTPS with a private CA (trustme)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedServer  # noqa: E402
from launcher.storage.profiles import Profile, load_profile  # noqa: E402
from launcher.storage.s3client import S3Client  # noqa: E402
from launcher.storage.s3protocol import md5_b64  # noqa: E402
from launcher.storage.transport import ssl_context  # noqa: E402


def rate(label: str, count: int, run: Callable[[], None]) -> float:
    cpu, start = time.process_time(), time.perf_counter()
    run()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    per_second = count / elapsed
    print(f"{label:44} {per_second:8.0f} objects/s  {cpu / count * 1e3:6.3f} ms CPU each", flush=True)
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
    profile: Profile, bucket: str, keys: list[str], body: bytes, concurrency: int
) -> tuple[Callable[[], None], Callable[[], None]]:

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


def aiohttp_case(
    profile: Profile, bucket: str, keys: list[str], body: bytes, concurrency: int
) -> tuple[Callable[[], None], Callable[[], None]]:
    """The requests S3Client sends (same signer, headers and body), over an aiohttp session as it was set up."""
    import aiohttp
    from yarl import URL

    async def run(op: str) -> None:
        client = S3Client(profile)
        assert client.signer is not None
        https = client.endpoint.startswith("https")
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency, ssl=ssl_context(profile) if https else True),
            auto_decompress=False,
            skip_auto_headers=("Content-Type",),
            headers={"Accept-Encoding": "identity", "User-Agent": "launcher-storage/0.1"},
        ) as session:
            gate = asyncio.Semaphore(concurrency)

            async def one(key: str) -> None:
                host, path = client.location(bucket, f"aiohttp/{key}")
                data = body if op == "put" else b""
                headers: dict[str, str] = {"Host": host}
                if op == "put":
                    headers["Content-MD5"] = md5_b64(body)
                method = "PUT" if op == "put" else "GET"
                async with gate:
                    client.signer.sign(method, host, path, "", headers, client.payload_hash(data, headers))  # type: ignore[union-attr]
                    url = URL(f"{'https' if https else 'http'}://{host}{path}", encoded=True)
                    async with session.request(method, url, headers=headers, data=data or None) as resp:
                        await resp.read()
                        assert resp.status == 200, resp.status

            await asyncio.gather(*(one(k) for k in keys))

    return (lambda: asyncio.run(run("put"))), (lambda: asyncio.run(run("get")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--threads", type=int, default=16, help="boto3 thread pool size")
    parser.add_argument("--tls", action="store_true", help="HTTPS with a private CA (trustme), path style")
    parser.add_argument("--only", default="", help="comma-separated: boto3, s3fs, aiobotocore, ours, aiohttp")
    args = parser.parse_args()
    keys = [f"d{i % 10}/f{i:06d}" for i in range(args.objects)]
    body = os.urandom(4096)
    tls: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="launcher-clients-") as folder:
        if args.tls:
            import trustme

            authority = trustme.CA()
            cert = authority.issue_cert("127.0.0.1")
            cert.cert_chain_pems[0].write_to_path(f"{folder}/cert.pem")
            cert.private_key_pem.write_to_path(f"{folder}/key.pem")
            authority.cert_pem.write_to_path(f"{folder}/ca.pem")
            os.environ["AWS_CA_BUNDLE"] = f"{folder}/ca.pem"  # botocore (boto3, aiobotocore, s3fs) and ours
            tls = {"tls": (f"{folder}/cert.pem", f"{folder}/key.pem")}
        with SeaweedServer(**tls) as server:  # type: ignore[arg-type]
            run_cases(args, server.endpoint, keys, body)


def run_cases(args: argparse.Namespace, endpoint: str, keys: list[str], body: bytes) -> None:
    env = {"S3_ENDPOINT": endpoint, "ACCESS_KEY_ID": ACCESS_KEY, "SECRET_ACCESS_KEY": SECRET_KEY}
    if "AWS_CA_BUNDLE" in os.environ:
        env["AWS_CA_BUNDLE"] = os.environ["AWS_CA_BUNDLE"]
    profile = load_profile(env=env)
    asyncio.run(_create(profile, "clients"))
    print(f"{len(keys)} x 4 KiB objects, SeaweedFS on loopback ({endpoint}), {os.cpu_count()} CPUs")
    n = args.concurrency
    cases: dict[str, tuple[str, Callable[[], tuple[Callable[[], None], Callable[[], None]]]]] = {
        "boto3": (f"boto3, {args.threads} threads", lambda: boto3_case(endpoint, "clients", keys, body, args.threads)),
        "s3fs": (f"s3fs pipe/cat, batch {n}", lambda: s3fs_case(endpoint, "clients", keys, body, n)),
        "aiobotocore": (f"aiobotocore, {n} in flight", lambda: aiobotocore_case(endpoint, "clients", keys, body, n)),
        "ours": (f"launcher s3client, {n} in flight", lambda: ours_case(profile, "clients", keys, body, n)),
        "aiohttp": (f"ours over aiohttp, {n} in flight", lambda: aiohttp_case(profile, "clients", keys, body, n)),
    }
    chosen = args.only.split(",") if args.only else list(cases)
    for name in chosen:
        label, case = cases[name]
        try:
            put, get = case()
        except ImportError as exc:
            print(f"{label:44} skipped ({exc})")
            continue
        rate(label + " PUT", len(keys), put)
        rate(label + " GET", len(keys), get)


async def _create(profile: Profile, bucket: str) -> None:
    async with S3Client(profile) as client:
        await client.create_bucket(bucket)


if __name__ == "__main__":
    main()
