"""HTTP/1.1 keep-alive requests on the event loop: the S3 client's transport for many small requests.

Hand-written because aiohttp falls short where the sync engine spends its time. Measured with
bench/sync/clients.py (3,000 x 4 KiB signed PUTs to SeaweedFS on 2 cores, same signer, 64 in flight): the same
requests over aiohttp cost 0.52 ms of CPU each over HTTP and 0.75 ms over HTTPS, over this module 0.25 ms and
0.38 ms. On shared cores the client's CPU is taken from the server: the small-file upload was 0.83-0.93x
s5cmd over HTTPS, bounded by CPU. tests/storage/test_http11.py holds this module to aiohttp's behaviour,
reply by reply.

Scope, and nothing more: one request at a time per connection (no pipelining), bodies in memory,
replies framed by Content-Length, chunked or the end of the connection, no redirects followed, no
decompression, no cookies. A request through a forwarding proxy goes over aiohttp (`HttpPool.request`),
which knows absolute-form requests and CONNECT tunnels.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

from launcher.storage.transport import KEEPALIVE_IDLE_S, USER_AGENT

if TYPE_CHECKING:
    import aiohttp

# What every request says besides its own headers (as the aiohttp session did): no compressed replies
# (an object stored gzip-encoded must arrive byte for byte).
_FIXED_HEADERS = f"Accept: */*\r\nAccept-Encoding: identity\r\nUser-Agent: {USER_AGENT}\r\n"
_MAX_HEAD = 64 << 10  # a reply head longer than this is not S3
_JOIN_BELOW = 256 << 10  # bodies up to this go out in one write with the head: one TLS record, one syscall
_NO_BODY_STATUS = frozenset((204, 304))


class Reply(NamedTuple):
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


class ProtocolError(ConnectionError):
    """The reply is not HTTP/1.1 as the standard frames it: the connection cannot be used again."""


class CertificateUntrusted(Exception):
    """The server's TLS certificate failed verification (never retried: it cannot become trusted)."""

    def __init__(self, reason: object) -> None:
        super().__init__(str(reason))
        self.reason = reason


class _Connection(asyncio.Protocol):
    """One keep-alive connection: sends a request, parses its reply as the bytes arrive."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Reply] | None = None
        self._last_data = 0.0
        self._no_body = False  # the request was HEAD
        self._timer: asyncio.TimerHandle | None = None  # the read timeout's next check
        self._reset()

    def _reset(self) -> None:
        self._status = 0
        self._headers: CIMultiDict[str] | None = None
        self._length: int | None = None  # body bytes still expected (Content-Length framing)
        self._chunked = False
        self._chunk_state = "size"  # size -> data -> size ... -> trailer
        self._chunk_left = 0
        self._chunks: list[bytes] = []
        self._until_close = False
        self._keep_alive = True

    # -- asyncio.Protocol -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._last_data = self.loop.time()
        waiter = self._waiter
        if waiter is None or waiter.done():  # bytes nobody asked for: the connection is out of step
            self.close()
            return
        self._buffer += data
        try:
            reply = self._parse()
        except ProtocolError as exc:
            self.close()
            waiter.set_exception(exc)
            return
        if reply is not None:
            waiter.set_result(reply)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._until_close and self._headers is not None:  # a reply framed by the end of the connection
            waiter.set_result(Reply(self._status, CIMultiDictProxy(self._headers), bytes(self._buffer)))
            return
        reason = f": {exc}" if exc else ""
        waiter.set_exception(ConnectionResetError(f"the server closed the connection before replying in full{reason}"))

    # -- one exchange -------------------------------------------------------------------------------------

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    async def exchange(self, head: bytes, body: bytes | memoryview, no_body: bool, read_timeout_s: float) -> Reply:
        """Send one request; its reply. Raises ConnectionError/TimeoutError for network faults."""
        if self.closed or self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("the connection was closed")
        self._buffer.clear()
        self._reset()
        self._no_body = no_body
        waiter: asyncio.Future[Reply] = self.loop.create_future()
        self._waiter = waiter
        self._last_data = self.loop.time()
        if body and len(body) <= _JOIN_BELOW:
            self.transport.write(head + body)
        else:
            self.transport.write(head)
            if body:
                self.transport.write(body)
        self._timer = self.loop.call_later(read_timeout_s, self._check_silence, waiter, read_timeout_s)
        try:
            reply = await waiter
        finally:
            if self._timer is not None:
                self._timer.cancel()
            self._waiter = None
        if not self._keep_alive or self._buffer:  # extra bytes after the reply: out of step, not reusable
            self.close()
        return reply

    def _check_silence(self, waiter: asyncio.Future[Reply], read_timeout_s: float) -> None:
        """aiohttp's sock_read: fail when no byte has arrived for `read_timeout_s`, however long the reply."""
        if waiter.done():
            return
        silent = self.loop.time() - self._last_data
        if silent >= read_timeout_s:
            self.abort()
            waiter.set_exception(TimeoutError(f"no reply from the server for {read_timeout_s:g} s"))
            return
        self._timer = self.loop.call_later(read_timeout_s - silent, self._check_silence, waiter, read_timeout_s)

    # -- parsing --------------------------------------------------------------------------------------------

    def _parse(self) -> Reply | None:
        while self._headers is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > _MAX_HEAD:
                    raise ProtocolError(f"reply head longer than {_MAX_HEAD} bytes")
                return None
            head = bytes(self._buffer[:end])
            del self._buffer[: end + 4]
            self._read_head(head)
        if self._until_close:
            return None  # connection_lost completes it
        if self._chunked:
            return self._parse_chunks()
        assert self._length is not None
        if len(self._buffer) < self._length:
            return None
        with memoryview(self._buffer) as view:  # one copy out (a bytearray slice would be a second)
            body = bytes(view[: self._length])
        del self._buffer[: self._length]
        return Reply(self._status, CIMultiDictProxy(self._headers), body)

    def _read_head(self, head: bytes) -> None:
        lines = head.decode("utf-8", "surrogateescape").split("\r\n")  # as aiohttp reads a head
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        well_formed = len(code) == 3 and code.isdigit() and rest[3:4] in ("", " ")
        if version not in ("HTTP/1.1", "HTTP/1.0") or not well_formed:
            raise ProtocolError(f"not an HTTP/1.1 reply: {lines[0][:80]!r}")
        status = int(code)
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip() or line[0] in " \t":
                raise ProtocolError(f"malformed reply header line: {line[:80]!r}")
            headers.add(name, value.strip(" \t"))
        if 100 <= status < 200:  # an interim reply (100 Continue, 103): the real one follows
            return
        self._status, self._headers = status, headers
        connection = headers.get("Connection", "").lower()
        self._keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        if self._no_body or status in _NO_BODY_STATUS:
            self._length = 0
            return
        if "chunked" in headers.get("Transfer-Encoding", "").lower():
            self._chunked = True
            if "Content-Length" in headers:  # both framings: the chunks win, the connection is not trusted after
                self._keep_alive = False
            return
        lengths = set(headers.getall("Content-Length", []))
        if not lengths:
            self._until_close, self._keep_alive = True, False
            return
        length = lengths.pop()
        if lengths or not length.isdigit():
            raise ProtocolError(f"invalid Content-Length in the reply: {headers.getall('Content-Length')}")
        self._length = int(length)

    def _parse_chunks(self) -> Reply | None:
        buffer = self._buffer
        while True:
            if self._chunk_state == "data":
                if len(buffer) < self._chunk_left + 2:
                    return None
                if buffer[self._chunk_left : self._chunk_left + 2] != b"\r\n":
                    raise ProtocolError("a chunk of the reply does not end where its size says")
                self._chunks.append(bytes(buffer[: self._chunk_left]))
                del buffer[: self._chunk_left + 2]
                self._chunk_state = "size"
                continue
            end = buffer.find(b"\r\n")
            if end < 0:
                if len(buffer) > _MAX_HEAD:
                    raise ProtocolError("a chunk size line of the reply is too long")
                return None
            line = bytes(buffer[:end])
            del buffer[: end + 2]
            if self._chunk_state == "trailer":
                if not line:  # the empty line after the trailers: the reply is complete
                    assert self._headers is not None
                    return Reply(self._status, CIMultiDictProxy(self._headers), b"".join(self._chunks))
                continue
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError(f"invalid chunk size in the reply: {size_text[:20]!r}") from None
            if size < 0 or not size_text.isalnum():
                raise ProtocolError(f"invalid chunk size in the reply: {size_text[:20]!r}")
            if size == 0:
                self._chunk_state = "trailer"
            else:
                self._chunk_state, self._chunk_left = "data", size


def _check_header(text: str, where: str) -> str:
    """`text` unless it holds a line break, which would end the header and start another (injection).

    The error names `where` (the header's name, or the target), never the text: a value may be a secret
    (a session token read with its trailing newline) and the message reaches logs and the user.
    """
    if "\r" in text or "\n" in text:
        raise ValueError(f"a line break in the HTTP request's {where}")
    return text


def request_head(method: str, target: str, headers: Mapping[str, str], body_length: int) -> bytes:
    """The request line and headers, as bytes. `Content-Length` is set from the body, and as 0 for a method
    other than GET and HEAD without one (as aiohttp does: some servers wait for a body otherwise)."""
    lines = [f"{method} {_check_header(target, 'target')} HTTP/1.1\r\n"]
    for name, value in headers.items():
        if name.lower() == "content-length":
            continue
        name = _check_header(name, "header names")
        lines.append(f"{name}: {_check_header(str(value), f'header {name}')}\r\n")
    if body_length or method not in ("GET", "HEAD"):
        lines.append(f"Content-Length: {body_length}\r\n")
    lines.append(_FIXED_HEADERS)
    lines.append("\r\n")
    return "".join(lines).encode("utf-8")  # as aiohttp writes one (metadata values may be any text)


class HttpPool:
    """Keep-alive connections to an endpoint's hosts (virtual-host buckets are hosts too), on one event loop.

    `request` takes a host[:port] and a request target (path and query, encoded) and returns the reply
    in full. Proxied requests go over an aiohttp session made on first need.
    """

    def __init__(
        self,
        *,
        https: bool,
        ssl_context: ssl.SSLContext | None,
        connect_timeout_s: float,
        read_timeout_s: float,
        max_connections: int,
    ) -> None:
        self._https = https
        self._ssl = ssl_context
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._max_connections = max_connections
        self._slots: asyncio.Semaphore | None = None  # made on the loop, on first use
        self._idle: dict[str, list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._proxied: aiohttp.ClientSession | None = None
        self.closed = False

    async def request(
        self,
        method: str,
        host: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | memoryview = b"",
        *,
        proxy: str | None = None,
    ) -> Reply:
        if self.closed:
            raise RuntimeError("the HTTP pool is closed")
        if proxy is not None:
            return await self._through_proxy(method, host, target, headers, body, proxy)
        head = request_head(method, target, headers, len(body))
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_connections)
        async with self._slots:
            connection = self._take(host) or await self._connect(host)
            try:
                reply = await connection.exchange(head, body, method == "HEAD", self._read_timeout_s)
            except BaseException:
                connection.abort()
                self._open.discard(connection)
                raise
            if connection.closed or self.closed:
                connection.close()
                self._open.discard(connection)
            else:
                connection.idle_since = connection.loop.time()
                self._idle.setdefault(host, []).append(connection)
            return reply

    def _take(self, host: str) -> _Connection | None:
        idle = self._idle.get(host)
        while idle:
            connection = idle.pop()
            if not connection.closed and connection.loop.time() - connection.idle_since <= KEEPALIVE_IDLE_S:
                return connection
            connection.close()
            self._open.discard(connection)
        return None

    async def _connect(self, host: str) -> _Connection:
        parts = urlsplit("//" + host)
        hostname = parts.hostname or host
        port = parts.port or (443 if self._https else 80)
        loop = asyncio.get_running_loop()
        tls = self._ssl if self._https else None
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop), hostname, port, ssl=tls, server_hostname=hostname if tls else None
                )
        except ssl.SSLCertVerificationError as exc:
            raise CertificateUntrusted(exc.verify_message or exc) from None
        except TimeoutError:
            raise TimeoutError(f"no connection to {host} within {self._connect_timeout_s:g} s") from None
        self._open.add(connection)
        return connection

    async def _through_proxy(
        self, method: str, host: str, target: str, headers: Mapping[str, str], body: bytes | memoryview, proxy: str
    ) -> Reply:
        import aiohttp
        from yarl import URL

        if self._proxied is None:
            self._proxied = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, ssl=self._ssl if self._https else True),
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self._connect_timeout_s, sock_read=self._read_timeout_s
                ),
                auto_decompress=False,
                read_bufsize=1 << 20,
                skip_auto_headers=("Content-Type",),
                headers={"Accept-Encoding": "identity", "User-Agent": USER_AGENT},
            )
        url = URL(f"{'https' if self._https else 'http'}://{host}{target}", encoded=True)
        try:
            # No automatic redirects: a request signed for one host is invalid at another (we report them).
            async with self._proxied.request(
                method, url, headers=dict(headers), data=body if body else None, proxy=proxy, allow_redirects=False
            ) as resp:
                return Reply(resp.status, resp.headers, await resp.read())
        except aiohttp.ClientConnectorCertificateError as exc:
            raise CertificateUntrusted(exc.certificate_error) from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as exc:
            raise ConnectionError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None

    async def close(self) -> None:
        self.closed = True
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()
        if self._proxied is not None:
            await self._proxied.close()
            self._proxied = None
