"""The hand-written HTTP/1.1 transport (launcher/storage/http11.py) held to aiohttp's behaviour.

A scripted server on loopback answers each request with exact bytes: framing by Content-Length, chunks (with
extensions and trailers), the end of the connection, interim replies, replies cut short or garbled, bytes
trickled one at a time. For every script, the same request goes through aiohttp and through HttpPool: both
must read the same status, headers (in order, repeats kept) and body, or both must fail. What each sends is
compared too, and how connections are kept, dropped and timed out.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import aiohttp
import pytest

from launcher.storage.http11 import HttpPool, request_head

Script = list[bytes | float]  # bytes to send, or a pause in seconds


@dataclass
class ScriptedServer:
    """Answers the n-th request with replies[n] (the last one again after that); records what it received."""

    replies: list[Script]
    close_after: set[int] = field(default_factory=set)  # request numbers after whose reply it hangs up
    heads: list[bytes] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
                    return  # the client hung up, or the test is over
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                number = len(self.heads)
                self.heads.append(head)
                self.bodies.append(body)
                for piece in self.replies[min(number, len(self.replies) - 1)]:
                    if isinstance(piece, float):
                        await asyncio.sleep(piece)
                    else:
                        writer.write(piece)
                        await writer.drain()
                if number in self.close_after:
                    return
        finally:
            writer.close()


def _pool(read_timeout_s: float = 5.0) -> HttpPool:
    return HttpPool(
        https=False, ssl_context=None, connect_timeout_s=5.0, read_timeout_s=read_timeout_s, max_connections=4
    )


def _aiohttp_session(read_timeout_s: float = 5.0) -> aiohttp.ClientSession:
    """The aiohttp settings the S3 client used before this transport: the reference."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=5.0, sock_read=read_timeout_s),
        auto_decompress=False,
        skip_auto_headers=("Content-Type",),
        headers={"Accept-Encoding": "identity", "User-Agent": "launcher-storage/0.1"},
    )


Outcome = tuple[int, list[tuple[str, str]], bytes] | str  # the reply, or "failed"


def _lowered(headers: object) -> list[tuple[str, str]]:
    """Names compared without case (aiohttp spells some its own way: Etag), values exactly, order kept."""
    return [(name.lower(), value) for name, value in headers]  # type: ignore[attr-defined]


async def _by_aiohttp(
    server: ScriptedServer, method: str, body: bytes = b"", headers: dict[str, str] | None = None, timeout: float = 5.0
) -> Outcome:
    async with _aiohttp_session(timeout) as session:
        try:
            async with session.request(
                method,
                f"http://{server.host}/bucket/key?x=1",
                headers=headers,
                data=body or None,
                allow_redirects=False,
            ) as resp:
                data = await resp.read()
                return resp.status, _lowered(resp.headers.items()), data
        except (aiohttp.ClientError, TimeoutError):
            return "failed"


async def _by_ours(
    server: ScriptedServer, method: str, body: bytes = b"", headers: dict[str, str] | None = None, timeout: float = 5.0
) -> Outcome:
    pool = _pool(timeout)
    try:
        sent = {"Host": server.host, **(headers or {})}
        reply = await pool.request(method, server.host, "/bucket/key?x=1", sent, body)
        return reply.status, _lowered(reply.headers.items()), reply.body
    except OSError:  # ConnectionError, ProtocolError, TimeoutError: what the S3 client retries
        return "failed"
    finally:
        await pool.close()


async def _both(script: Script, method: str = "GET", timeout: float = 5.0) -> tuple[Outcome, Outcome]:
    async with ScriptedServer([script], close_after={0, 1}) as server:
        theirs = await _by_aiohttp(server, method, timeout=timeout)
        ours = await _by_ours(server, method, timeout=timeout)
    return theirs, ours


def _head(status: str, *headers: str) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", *headers]) + "\r\n\r\n").encode()


REPLIES: dict[str, tuple[Script, str]] = {
    "content-length": ([_head("200 OK", "Content-Length: 5", "ETag: \"abc\""), b"hello"], "GET"),
    "empty body": ([_head("200 OK", "Content-Length: 0")], "GET"),
    "repeated headers kept in order": (
        [_head("200 OK", "x-amz-meta-a: 1", "Content-Length: 2", "X-Amz-Meta-A: 2", "x-other:   padded  "), b"ok"],
        "GET",
    ),
    "UTF-8 and stray bytes in header values": (
        [b"HTTP/1.1 200 OK\r\nx-amz-meta-name: caf\xc3\xa9\r\nx-odd: \xff\xfe\r\nContent-Length: 1\r\n\r\nx"],
        "GET",
    ),
    "chunked, extensions and trailers": (
        [_head("200 OK", "Transfer-Encoding: chunked"), b"5;name=v\r\nhello\r\n6\r\n world\r\n0\r\nx-t: 1\r\n\r\n"],
        "GET",
    ),
    "chunked, upper-case hex sizes": (
        [_head("200 OK", "Transfer-Encoding: chunked"), b"A\r\n0123456789\r\n0\r\n\r\n"],
        "GET",
    ),
    "chunked, trickled byte by byte": (
        [_head("200 OK", "Transfer-Encoding: chunked")]
        + [bytes([b]) for b in b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"],
        "GET",
    ),
    "head split across writes": ([b"HTTP/1.1 200 OK\r\nContent-Le", 0.05, b"ngth: 3\r\n\r", b"\nabc"], "GET"),
    "HEAD: a length but no body": ([_head("200 OK", "Content-Length: 100", "ETag: \"e\"")], "HEAD"),
    "204: no body": ([_head("204 No Content")], "DELETE"),
    "interim 100 Continue first": ([_head("100 Continue"), _head("200 OK", "Content-Length: 2"), b"hi"], "PUT"),
    "no length: the body ends with the connection": ([_head("200 OK", "Connection: close"), b"until the end"], "GET"),
    "HTTP/1.0 reply": ([b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc"], "GET"),
    "an error status with an XML body": (
        [_head("503 Slow Down", "Content-Length: 28", "Retry-After: 2"), b"<Error><Code>Slow</Code></E>"],
        "GET",
    ),
    # Faults: both must fail (the S3 client retries them as network faults).
    "not HTTP": ([b"SSH-2.0-OpenSSH_9.6\r\n\r\n"], "GET"),
    "garbled status code": ([b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n"], "GET"),
    "cut short in the body": ([_head("200 OK", "Content-Length: 10"), b"abc"], "GET"),
    "cut short in the head": ([b"HTTP/1.1 200 OK\r\nContent-Len"], "GET"),
    "cut short in the chunks": ([_head("200 OK", "Transfer-Encoding: chunked"), b"5\r\nhel"], "GET"),
    "chunk size not hex": ([_head("200 OK", "Transfer-Encoding: chunked"), b"zz\r\nhello\r\n0\r\n\r\n"], "GET"),
    "chunk longer than its size": ([_head("200 OK", "Transfer-Encoding: chunked"), b"2\r\nhello\r\n0\r\n\r\n"], "GET"),
    "two different lengths": ([_head("200 OK", "Content-Length: 3", "Content-Length: 4"), b"abcd"], "GET"),
    "a length that is not a number": ([_head("200 OK", "Content-Length: -3"), b"abc"], "GET"),
    "nothing at all": ([b""], "GET"),
}


@pytest.mark.parametrize("name", list(REPLIES))
def test_reads_every_reply_as_aiohttp_does(name: str) -> None:
    script, method = REPLIES[name]
    theirs, ours = asyncio.run(_both(script, method))
    assert ours == theirs
    failing = name in list(REPLIES)[list(REPLIES).index("not HTTP") :]
    assert (ours == "failed") == failing  # the table's faults are faults, the rest are replies


def test_a_reply_that_stalls_times_out_and_one_that_trickles_does_not() -> None:
    """Like aiohttp's sock_read: the limit is on silence, not on the reply's whole duration."""
    stalls: Script = [_head("200 OK", "Content-Length: 4"), b"ab", 1.0, b"cd"]
    trickles: Script = [_head("200 OK", "Content-Length: 6")]
    trickles += [piece for c in b"abcdef" for piece in (0.1, bytes([c]))]

    async def run() -> None:
        theirs, ours = await _both(stalls, timeout=0.4)
        assert theirs == ours == "failed"
        theirs, ours = await _both(trickles, timeout=0.4)
        assert ours == theirs and ours != "failed" and ours[2] == b"abcdef"

    asyncio.run(run())


def test_sends_what_aiohttp_sends() -> None:
    """Same request line, same headers (names and values), same body; PUT or DELETE without a body say length 0."""

    async def run() -> None:
        reply: Script = [_head("200 OK", "Content-Length: 0")]
        for method, body in (("PUT", b"data" * 100), ("PUT", b""), ("GET", b""), ("DELETE", b""), ("POST", b"<x/>")):
            async with ScriptedServer([reply]) as server:
                await _by_aiohttp(server, method, body, {"x-amz-meta-name": "café ☕"})
                await _by_ours(server, method, body, {"x-amz-meta-name": "café ☕"})
                theirs, ours = (_parsed(head) for head in server.heads)
                assert ours == theirs, method
                assert server.bodies[0] == server.bodies[1] == body

    asyncio.run(run())


def _parsed(head: bytes) -> tuple[str, dict[str, str]]:
    line, *headers = head.decode().rstrip("\r\n").split("\r\n")
    return line, {name.lower(): value.strip() for name, _, value in (h.partition(":") for h in headers)}


def test_a_line_break_in_a_header_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match="line break in the HTTP request's header x-amz-meta-note"):
        request_head("PUT", "/b/k", {"x-amz-meta-note": "a\r\nx-amz-acl: public-read"}, 0)
    with pytest.raises(ValueError, match="line break in the HTTP request's target"):
        request_head("GET", "/b/k HTTP/1.1\r\nX: y", {}, 0)
    with pytest.raises(ValueError, match="line break in the HTTP request's header names"):
        request_head("GET", "/b/k", {"X-A\r\nX-B": "v"}, 0)


def test_the_refusal_never_shows_the_value() -> None:
    """A session token read with its trailing newline must not reach the error text (and so a log)."""
    token = "FQoGZXIvYXdzEJr-secret-session-token-0123456789"
    with pytest.raises(ValueError) as refused:
        request_head("GET", "/b/k", {"x-amz-security-token": token + "\r\n"}, 0)
    assert "x-amz-security-token" in str(refused.value)
    assert token[:8] not in str(refused.value) and "secret" not in str(refused.value)


def _run_pool(server_replies: list[Script], close_after: set[int], calls: int) -> tuple[int, list[int]]:
    async def run() -> tuple[int, list[int]]:
        async with ScriptedServer(server_replies, close_after=close_after) as server:
            pool = _pool()
            try:
                statuses = [
                    (await pool.request("GET", server.host, "/", {"Host": server.host})).status for _ in range(calls)
                ]
            finally:
                await pool.close()
            return server.connections, statuses

    return asyncio.run(run())


def test_keeps_one_connection_for_requests_in_a_row() -> None:
    assert _run_pool([[_head("200 OK", "Content-Length: 1"), b"x"]], set(), 5) == (1, [200] * 5)


def test_a_reply_saying_close_or_framed_by_the_end_is_not_reused() -> None:
    says_close: Script = [_head("200 OK", "Content-Length: 1", "Connection: close"), b"x"]
    assert _run_pool([says_close], {0, 1, 2}, 3) == (3, [200] * 3)
    until_end: Script = [_head("200 OK"), b"xyz"]
    assert _run_pool([until_end], {0, 1, 2}, 3) == (3, [200] * 3)


def test_extra_bytes_after_a_reply_drop_the_connection() -> None:
    """A server that sends more than it framed is out of step: the next request must not read those bytes."""
    extra: Script = [_head("200 OK", "Content-Length: 1") + b"x" + _head("200 OK", "Content-Length: 1") + b"y"]
    connections, statuses = _run_pool([extra], set(), 2)
    assert statuses == [200, 200] and connections == 2


def test_a_connection_the_server_closed_while_idle_is_not_used_again() -> None:
    async def run() -> int:
        async with ScriptedServer([[_head("200 OK", "Content-Length: 1"), b"x"]], close_after={0}) as server:
            pool = _pool()
            try:
                await pool.request("GET", server.host, "/", {"Host": server.host})
                await asyncio.sleep(0.1)  # the server's FIN arrives: the idle connection is marked closed
                assert (await pool.request("GET", server.host, "/", {"Host": server.host})).status == 200
            finally:
                await pool.close()
            return server.connections

    assert asyncio.run(run()) == 2


def test_a_refused_connection_is_a_connection_error() -> None:
    async def run() -> None:
        async with ScriptedServer([[b""]]) as server:
            host = server.host
        pool = _pool()
        try:
            with pytest.raises(ConnectionError):
                await pool.request("GET", host, "/", {"Host": host})
        finally:
            await pool.close()

    asyncio.run(run())


def test_cancelling_a_request_drops_its_connection() -> None:
    async def run() -> None:
        async with ScriptedServer([[_head("200 OK", "Content-Length: 1"), 5.0, b"x"]]) as server:
            pool = _pool()
            try:
                task = asyncio.ensure_future(pool.request("GET", server.host, "/", {"Host": server.host}))
                await asyncio.sleep(0.2)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert not pool._idle.get(server.host) and not pool._open  # nothing half-read is kept
            finally:
                await pool.close()

    asyncio.run(run())
