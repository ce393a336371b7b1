"""What the client makes of replies that SeaweedFS never sends but AWS and OBS do: a wrong region, a permanent
redirect, a ListObjects that ignores `list-type=2`, a multipart object assembled wrong. A loopback aiohttp
server answers with the documented bodies; forced ListObjects v1 also runs against real SeaweedFS.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from launcher.storage.errors import CredentialsError
from launcher.storage.profiles import load_profile
from launcher.storage.s3client import S3Client, S3Error, WrongRegion, composite_etag

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _with_server(handler: Handler, check: Callable[[S3Client], Awaitable[Any]], **env: str) -> Any:
    async def main() -> Any:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        async with TestServer(app, host="127.0.0.1") as server:
            profile = load_profile(
                env={
                    "S3_ENDPOINT": f"http://127.0.0.1:{server.port}",
                    "ACCESS_KEY_ID": "AK",
                    "SECRET_ACCESS_KEY": "secret-key-1",
                    "LAUNCHER_S3_MAX_ATTEMPTS": "1",
                    **env,
                }
            )
            async with S3Client(profile) as client:
                return await check(client)

    return asyncio.run(main())


def _xml(body: str, status: int, **headers: str) -> web.Response:
    return web.Response(
        status=status, body=f'<?xml version="1.0" encoding="UTF-8"?>\n{body}', headers=headers, content_type="application/xml"
    )


def test_wrong_region_is_reported_as_a_region_with_the_one_asked_for() -> None:
    async def handler(request: web.Request) -> web.Response:
        return _xml(
            "<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region 'us-east-1' is wrong; expecting "
            "'eu-west-1'</Message><Region>eu-west-1</Region></Error>",
            400,
        )

    async def check(client: S3Client) -> None:
        with pytest.raises(WrongRegion) as info:
            await client.get_object("bucket", "k")
        assert not isinstance(info.value, CredentialsError)
        assert "'eu-west-1'" in str(info.value) and "'us-east-1'" in str(info.value) and "region" in str(info.value)

    _with_server(handler, check)


def test_permanent_redirect_names_the_right_endpoint() -> None:
    async def handler(request: web.Request) -> web.Response:
        return _xml(
            "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed "
            "using the specified endpoint.</Message><Endpoint>bucket.s3.eu-central-1.amazonaws.com</Endpoint>"
            "<Bucket>bucket</Bucket></Error>",
            301,
            **{"x-amz-bucket-region": "eu-central-1"},
        )

    async def check(client: S3Client) -> None:
        with pytest.raises(WrongRegion) as info:
            await client.put_object("bucket", "k", b"x")
        assert "http://s3.eu-central-1.amazonaws.com" in str(info.value) and "eu-central-1" in str(info.value)

    _with_server(handler, check)


def test_head_redirect_without_body_names_the_region_from_the_header() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=301, headers={"x-amz-bucket-region": "ap-southeast-1"})

    async def check(client: S3Client) -> None:
        with pytest.raises(WrongRegion, match="'ap-southeast-1'"):
            await client.bucket_exists("bucket")

    _with_server(handler, check)


def _v1_page(keys: list[str], truncated: bool, next_marker: str = "") -> str:
    contents = "".join(
        f"<Contents><Key>{k}</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>\"e\"</ETag>"
        f"<Size>1</Size></Contents>"
        for k in keys
    )
    marker = f"<NextMarker>{next_marker}</NextMarker>" if next_marker else ""
    return (
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix>'
        f"<Marker></Marker>{marker}<MaxKeys>2</MaxKeys><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
        f"{contents}</ListBucketResult>"
    )


def test_listing_falls_back_to_v1_when_list_type_2_is_ignored() -> None:
    keys = ["a", "b", "c", "d", "e"]
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        query = dict(request.query)
        seen.append(query)
        after = query.get("marker", "")
        rest = [k for k in keys if k > after]
        page = rest[:2]
        return _xml(_v1_page(page, truncated=len(rest) > 2), 200)  # no NextMarker without a delimiter (as S3)

    async def check(client: S3Client) -> list[str]:
        return [o.key async for page, _ in client.list_objects("b", max_keys=2) for o in page]

    assert _with_server(handler, check) == keys
    assert seen[0].get("list-type") == "2"
    assert all("list-type" not in q for q in seen[1:]) and [q.get("marker") for q in seen[1:]] == ["b", "d"]


def test_listing_falls_back_to_v1_when_list_type_is_refused() -> None:
    async def handler(request: web.Request) -> web.Response:
        if "list-type" in request.query:
            return _xml("<Error><Code>NotImplemented</Code><Message>list-type</Message></Error>", 501)
        return _xml(_v1_page(["x"], truncated=False), 200)

    async def check(client: S3Client) -> list[str]:
        return [o.key async for page, _ in client.list_objects("b") for o in page]

    assert _with_server(handler, check) == ["x"]


def test_forced_v1_listing_pages_with_marker_on_seaweedfs(s3: str) -> None:
    keys = [f"p/{n:02d}" for n in range(7)]

    async def main() -> tuple[list[str], list[str]]:
        async with S3Client(load_profile(list_version="1")) as client:
            for key in keys:
                await client.put_object(s3, key, b"x")
            flat = [o.key async for page, _ in client.list_objects(s3, "p/", max_keys=3) for o in page]
            await client.put_object(s3, "p/sub/z", b"z")
            folders = [p async for _, prefixes in client.list_objects(s3, "p/", "/", max_keys=2) for p in prefixes]
            return flat, folders

    flat, folders = asyncio.run(main())
    assert flat == keys
    assert folders == ["p/sub/"]


def test_multipart_upload_assembled_wrong_is_caught_and_names_the_object() -> None:
    parts = [b"a" * 10, b"b" * 10]
    etags = [f'"{hashlib.md5(p).hexdigest()}"' for p in parts]

    async def handler(request: web.Request) -> web.Response:
        wrong = composite_etag([hashlib.md5(parts[1]).digest(), hashlib.md5(parts[0]).digest()])  # swapped
        return _xml(f"<CompleteMultipartUploadResult><ETag>\"{wrong}\"</ETag></CompleteMultipartUploadResult>", 200)

    async def check(client: S3Client) -> None:
        with pytest.raises(S3Error, match=r"s3://b/dir/model\.bin .*corrupt|corrupt.*s3://b/dir/model\.bin"):
            await client.complete_multipart_upload("b", "dir/model.bin", "up1", etags)

    _with_server(handler, check)


def test_multipart_upload_assembled_right_passes() -> None:
    parts = [b"a" * 10, b"b" * 10]
    etags = [f'"{hashlib.md5(p).hexdigest()}"' for p in parts]
    right = composite_etag([hashlib.md5(p).digest() for p in parts])

    async def handler(request: web.Request) -> web.Response:
        return _xml(f"<CompleteMultipartUploadResult><ETag>\"{right}\"</ETag></CompleteMultipartUploadResult>", 200)

    async def check(client: S3Client) -> str:
        return await client.complete_multipart_upload("b", "k", "up1", etags)

    assert _with_server(handler, check) == right


def test_a_temporary_redirect_is_reported_not_followed() -> None:
    followed: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        if request.path.startswith("/elsewhere"):
            followed.append(request.path)
            return web.Response(status=200, body=b"should not be read")
        return _xml(
            "<Error><Code>TemporaryRedirect</Code><Message>Please re-send this request to the specified temporary "
            "endpoint.</Message><Endpoint>bucket.s3-eu-west-1.amazonaws.com</Endpoint></Error>",
            307,
            Location="/elsewhere/k",
        )

    async def check(client: S3Client) -> None:
        with pytest.raises(WrongRegion, match="s3-eu-west-1.amazonaws.com"):
            await client.get_object("bucket", "k")

    _with_server(handler, check)
    assert followed == []
