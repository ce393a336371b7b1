"""Network helpers for the production-path tests: host names on loopback, a counting forwarding proxy."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path


HOSTS = Path("/etc/hosts")


@contextlib.contextmanager
def loopback_names(names: list[str]) -> Iterator[None]:
    """Make `names` resolve to 127.0.0.1 (an /etc/hosts line, removed on exit: only ours, in place)."""
    marker = f"# launcher-test {os.getpid()}-{id(names)}"
    line = f"127.0.0.1 {' '.join(names)} {marker}\n"
    with HOSTS.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(line)
    try:
        yield
    finally:
        with HOSTS.open("r+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            kept = [entry for entry in fh.readlines() if not entry.rstrip().endswith(marker)]
            fh.seek(0)
            fh.writelines(kept)
            fh.truncate()


def hosts_writable() -> bool:
    return os.access(HOSTS, os.W_OK)


class CountingProxy:
    """A forwarding HTTP proxy on loopback (absolute-form requests and CONNECT tunnels) that counts what it passed.

    `requests[host]` counts plain-HTTP requests forwarded to `host:port`; `tunnels[host]` counts CONNECTs.
    """

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.tunnels: Counter[str] = Counter()
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._client, "127.0.0.1", 0), self._loop
        ).result()
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, target, version = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
                if method == "CONNECT":
                    host, port = target.rsplit(":", 1)
                    self.tunnels[host] += 1
                    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", int(port))
                    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    await writer.drain()
                    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
                    return
                # absolute-form: http://host:port/path -> forward as origin-form on a fresh upstream connection
                rest = target.split("://", 1)[1]
                authority, _, path = rest.partition("/")
                host, _, port = authority.partition(":")
                self.requests[host] += 1
                lines = head.split(b"\r\n")
                lines[0] = f"{method} /{path} {version}".encode()
                headers = {l.split(b":", 1)[0].strip().lower(): l for l in lines[1:] if b":" in l}
                length = int(headers[b"content-length"].split(b":", 1)[1]) if b"content-length" in headers else 0
                body = await reader.readexactly(length) if length else b""
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", int(port or 80))
                up_writer.write(b"\r\n".join(l for l in lines if not l.lower().startswith(b"proxy-")) + body)
                await up_writer.drain()
                await _relay_response(up_reader, writer, method)
                up_writer.close()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def _relay_response(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    writer.write(head)
    lines = head.lower().split(b"\r\n")
    status = int(lines[0].split()[1])
    length = next((int(l.split(b":", 1)[1]) for l in lines if l.startswith(b"content-length:")), None)
    chunked = any(l.startswith(b"transfer-encoding:") and b"chunked" in l for l in lines)
    if method == "HEAD" or status in (204, 304):
        pass
    elif length is not None:
        remaining = length
        while remaining:
            data = await reader.read(min(remaining, 1 << 16))
            if not data:
                raise ConnectionError("upstream closed")
            writer.write(data)
            remaining -= len(data)
    elif chunked:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            writer.write(size_line)
            size = int(size_line.split(b";")[0], 16)
            writer.write(await reader.readexactly(size + 2))
            if size == 0:
                break
    await writer.drain()

