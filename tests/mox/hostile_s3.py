"""A tiny S3 server on loopback that serves whatever keys a test gives it, including ones real servers
normalise away: keys starting with '/', keys with '//', a key that is only '/'. Path-style, no signature
check, ListObjectsV2 (one page), HEAD/GET of objects and of the bucket. Started and stopped by the test.
"""

from __future__ import annotations

import asyncio
import threading
from email.utils import formatdate
from urllib.parse import quote
from xml.sax.saxutils import escape

from aiohttp import web

_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


class HostileS3:
    def __init__(self, bucket: str, objects: dict[str, bytes]) -> None:
        self.bucket = bucket
        self.objects = objects
        self.endpoint = ""
        self.peers: set[tuple[str, int]] = set()  # client (host, port) of every connection seen
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def env(self) -> dict[str, str]:
        return {"S3_ENDPOINT": self.endpoint, "ACCESS_KEY_ID": "k", "SECRET_ACCESS_KEY": "s",
                "LAUNCHER_S3_MAX_ATTEMPTS": "1"}

    def __enter__(self) -> HostileS3:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.endpoint = f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            self.peers.add(request.transport.get_extra_info("peername")[:2])
        raw = request.raw_path.split("?", 1)[0]
        bucket, _, key = raw.lstrip("/").partition("/")
        # the client percent-encodes the key; a leading '/' of the key survives as the '//' after the bucket
        from urllib.parse import unquote

        key = unquote(key)
        if bucket != self.bucket:
            return web.Response(status=404, text="<Error><Code>NoSuchBucket</Code></Error>")
        if not key:
            if request.method == "HEAD":
                return web.Response(status=200)
            if request.method == "GET" and request.query.get("list-type") == "2":
                return self._list(request.query.get("prefix", ""), request.query.get("delimiter", ""))
            return web.Response(status=405)
        if key not in self.objects:
            return web.Response(status=404, text="<Error><Code>NoSuchKey</Code></Error>")
        data = self.objects[key]
        headers = {"Content-Length": str(len(data)), "ETag": '"e"', "Last-Modified": formatdate(usegmt=True)}
        if request.method == "HEAD":
            return web.Response(status=200, headers=headers)
        if request.method == "GET":
            return web.Response(status=200, body=data, headers={"ETag": '"e"'})
        return web.Response(status=405)

    def _list(self, prefix: str, delimiter: str) -> web.Response:
        contents, prefixes = [], set()
        for key in sorted(self.objects):
            if not key.startswith(prefix):
                continue
            rest = key[len(prefix):]
            if delimiter and delimiter in rest:
                prefixes.add(prefix + rest.split(delimiter, 1)[0] + delimiter)
                continue
            contents.append(
                f"<Contents><Key>{escape(quote(key, safe='/'))}</Key><Size>{len(self.objects[key])}</Size>"
                "<LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>\"e\"</ETag></Contents>"
            )
        common = "".join(f"<CommonPrefixes><Prefix>{escape(quote(p, safe='/'))}</Prefix></CommonPrefixes>"
                         for p in sorted(prefixes))
        body = (f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{_NS}"><Name>{self.bucket}</Name>'
                f"<EncodingType>url</EncodingType><KeyCount>{len(contents) + len(prefixes)}</KeyCount>"
                f"<IsTruncated>false</IsTruncated>{''.join(contents)}{common}"
                "</ListBucketResult>")
        return web.Response(status=200, body=body.encode(), content_type="application/xml")
