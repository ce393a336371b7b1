"""The transfer path for the parts of large files: blocking HTTP in a thread pool.

Measured (bench/sync, 1 GiB against SeaweedFS on 2 cores): streaming parts through the event loop costs
about twice the CPU of letting threads move them, because every chunk crosses Python objects on the one
loop thread. Here each worker thread keeps its own keep-alive connection, receives straight into a reused
buffer and `pwrite`s it (or `pread`s, hashes and sends a part), all with the GIL released. Small files stay
on the asyncio client, where hundreds of requests in flight matter more than bytes.

Workers open the file themselves, so a cancelled transfer can unlink its temporary file at once without
ever handing a recycled descriptor to a late thread; `abort()` shuts their sockets so none lingers.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import http.client
import mmap
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import urlsplit

from launcher.retry import RETRY_STATUS, EndpointHealth, RetryPolicy, retry_after_s
from launcher.storage.checksums import RunningCrc, encode, header_name
from launcher.storage.errors import DISK_ERRNOS, LocalDiskError, StorageError
from launcher.storage.integrity import Hasher
from launcher.storage.profiles import Profile
from launcher.storage.s3protocol import (
    RETRY_CODES,
    ChecksumNotConfirmed,
    Response,
    S3Error,
    S3Unavailable,
    error_code,
    error_in_200,
    md5_b64,
)
from launcher.storage.sigv4 import Signer, canonical_query
from launcher.storage.transport import KEEPALIVE_IDLE_S, USER_AGENT, http_connection, proxy_for


class PartClient(Protocol):
    """What the threaded path uses of the asyncio client (s3client.S3Client) whose settings it shares: named
    here, so that bulk.py needs only the wire protocol and s3client.py alone imports the other (no loop)."""

    profile: Profile
    endpoint: str
    signer: Signer | None
    retry: RetryPolicy
    health: EndpointHealth

    def location(self, bucket: str, key: str) -> tuple[str, str]: ...
    def payload_hash(self, body: bytes | memoryview, headers: Mapping[str, str] | None) -> str: ...
    def describe(self, bucket: str, key: str = "") -> str: ...
    def error(
        self,
        method: str,
        bucket: str,
        key: str,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> S3Error: ...
    def untrusted(self, method: str, bucket: str, key: str, host: str, reason: object) -> S3Error: ...

# Each worker receives into one page-aligned buffer of this size. A bytearray's bytes start 16 or 32 bytes past
# a cache line, and the kernel's copies from the socket into it and from it into the page cache run unaligned:
# ~0.1-0.3 s more system CPU per GiB downloaded (bench/sync README, alignment round).
_BUFFER = 1 << 20
# Page-cache writes go in slices of this size (what Go's io.Copy, so s5cmd, writes). Whole 1 MiB writes make the
# kernel allocate large folios: cheaper when another large download has just freed some, but ~2x the system CPU
# when the memory comes cold (1 GiB: 1.59 s against 0.82 s, 4 runs each after 4 s idle; on this VM, memory freed
# for a while goes back to the host and costs a fault to touch again).
_WRITE_SLICE = 32 << 10
# Progress crosses to the event loop every this many bytes of a range and at its end, not after every read
# (a thread-safe call wakes the loop: 1,024 wake-ups per GiB, each taking the GIL from the part workers).
_REPORT_EVERY = 8 << 20


def _aligned_buffer(size: int) -> memoryview:
    """`size` bytes of anonymous memory, page-aligned (an mmap: unmapped when the last view is dropped)."""
    return memoryview(mmap.mmap(-1, size))


def _write_at(fd: int, data: memoryview, position: int, path: str) -> None:
    """pwrite `data` at `position` in _WRITE_SLICE pieces. A disk error is not a network fault: it escapes the
    retry loop (not an OSError) at once."""
    try:
        for offset in range(0, len(data), _WRITE_SLICE):
            piece = data[offset : offset + _WRITE_SLICE]
            if os.pwrite(fd, piece, position + offset) != len(piece):
                raise LocalDiskError(path, OSError(errno.ENOSPC, "short write (disk full?)"))
    except OSError as exc:
        if exc.errno in DISK_ERRNOS:
            raise LocalDiskError(path, exc) from None
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from None


_TRANSIENT = (OSError, http.client.HTTPException)


class Aborted(StorageError):
    """The transfer this part belonged to was cancelled."""


class _Idle:
    """Idle keep-alive connections of the blocking transport, by what shapes a connection, for any thread to
    take for one request: a process that makes many short calls opens one connection, not one per call."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.connections: dict[tuple[object, ...], list[tuple[http.client.HTTPConnection, float]]] = {}

    def take(self, settings: tuple[object, ...]) -> http.client.HTTPConnection | None:
        now = time.monotonic()
        with self.lock:
            found = self.connections.get(settings, [])
            while found:
                conn, since = found.pop()
                if now - since <= KEEPALIVE_IDLE_S:
                    return conn
                conn.close()  # the server may have closed it by now
        return None

    def give_back(self, settings: tuple[object, ...], conn: http.client.HTTPConnection) -> None:
        with self.lock:
            found = self.connections.setdefault(settings, [])
            if len(found) < _IDLE_MAX:
                found.append((conn, time.monotonic()))
                return
        conn.close()

    def close(self) -> None:
        with self.lock:
            everything, self.connections = [c for found in self.connections.values() for c, _ in found], {}
        for conn in everything:
            conn.close()


_IDLE_MAX = 16
_idle = _Idle()
_inherited: list[_Idle] = []


def _idle_pool() -> _Idle:
    global _idle
    if _idle.pid != os.getpid():  # a forked child: the parent's sockets, kept referenced and never used here
        _inherited.append(_idle)
        _idle = _Idle()
    return _idle


@atexit.register
def close_idle_connections() -> None:
    """Close the kept connections (at exit: no socket is left to the garbage collector)."""
    if _idle.pid == os.getpid():
        _idle.close()


class BulkClient:
    """Thread-safe; one HTTP connection per worker thread. Shares signer, retry policy and health.

    `keep_connections`: each request takes an idle connection of the process (`_Idle`) and gives it back
    after a complete reply, for the next request of any client to the same endpoint (the blocking transport
    of short calls). Not with `abort()`, which is for part workers' own connections.
    """

    def __init__(self, client: PartClient, *, keep_connections: bool = False) -> None:
        self.client = client
        parts = urlsplit(client.endpoint)
        self._https = parts.scheme == "https"
        self._local = threading.local()
        self._live: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()
        self._aborted = False
        self._keep = keep_connections

    def _settings(self, host: str) -> tuple[object, ...]:
        """What shapes a kept connection (never the credentials: they sign requests, not connections)."""
        profile = self.client.profile
        hostname = urlsplit("//" + host).hostname or host
        proxy = proxy_for("https" if self._https else "http", hostname)
        return (profile.endpoint, profile.verify_ssl, profile.ca_bundle, profile.read_timeout_s, proxy, host)

    def _connection(self, host: str) -> http.client.HTTPConnection:
        if self._keep:
            settings = self._settings(host)
            conn = _idle_pool().take(settings) or http_connection(
                self.client.profile, host, self.client.profile.read_timeout_s
            )
            self._local.conn, self._local.settings = conn, settings
            return conn
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "host", "") == host:
            return conn
        # The endpoint's TLS (CA bundle, verify_ssl) and proxy settings, as on the asyncio path.
        conn = http_connection(self.client.profile, host, self.client.profile.read_timeout_s)
        self._local.conn, self._local.host = conn, host
        with self._lock:
            self._live.add(conn)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            with self._lock:
                self._live.discard(conn)
            self._local.conn = None

    def abort(self) -> None:
        """Make every worker stop at its next chunk, now: shut their sockets."""
        self._aborted = True
        with self._lock:
            live = list(self._live)
        for conn in live:
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        with self._lock:
            live = list(self._live)
            self._live.clear()
        for conn in live:
            conn.close()

    def _call(
        self,
        method: str,
        bucket: str,
        key: str,
        params: dict[str, str],
        headers: Callable[[], dict[str, str]],
        body: bytes | memoryview = b"",
        read_into: Callable[[http.client.HTTPResponse], None] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> tuple[http.client.HTTPResponse, bytes]:
        """One request with the client's retry policy; `read_into` consumes a successful body."""
        client = self.client
        host, path = client.location(bucket, key)
        query = canonical_query(params) if params else ""
        target = path + (f"?{query}" if query else "")
        sample = headers()
        payload_hash = client.payload_hash(body, sample)
        attempt = 0
        while True:
            if self._aborted:
                raise Aborted("transfer cancelled")
            attempt += 1
            send = headers()
            send["Host"] = host
            send["Accept-Encoding"] = "identity"
            send.setdefault("User-Agent", USER_AGENT)
            if client.signer is not None:
                client.signer.sign(method, host, path, query, send, payload_hash)
            try:
                conn = self._connection(host)
                conn.request(method, target, body=body if body else None, headers=send)
                resp = conn.getresponse()
                if resp.status in ok and read_into is not None:
                    read_into(resp)
                    data = b""
                else:
                    data = resp.read()
                if self._keep:  # the reply was read whole: the connection is ready for the next request
                    self._local.conn = None
                    if resp.will_close:
                        conn.close()
                    else:
                        _idle_pool().give_back(self._local.settings, conn)
            except ssl.SSLCertVerificationError as exc:  # not a network fault: retrying cannot make it trusted
                self._drop()
                raise client.untrusted(method, bucket, key, host, exc.verify_message or exc) from None
            except _TRANSIENT as exc:
                self._drop()
                if self._aborted:
                    raise Aborted("transfer cancelled") from None
                client.health.failed()
                if attempt >= client.retry.attempts or client.health.given_up:
                    raise S3Unavailable(
                        f"{method} {client.describe(bucket, key)} failed: {type(exc).__name__}: {exc}"
                    ) from None
                time.sleep(client.retry.delay(attempt))
                continue
            except BaseException:  # e.g. a disk error mid-body: the rest of the reply is unread, the connection unusable
                self._drop()
                raise
            client.health.succeeded()
            if resp.status in ok and not error_in_200(method, resp.status, data):
                return resp, data
            code, message = error_code(data)
            if (resp.status in RETRY_STATUS or code in RETRY_CODES) and attempt < client.retry.attempts:
                time.sleep(client.retry.delay(attempt, retry_after_s(resp.headers)))
                continue
            raise client.error(method, bucket, key, resp.status, code, message, headers=resp.headers, body=data)

    def request(
        self,
        method: str,
        bucket: str,
        key: str,
        params: dict[str, str],
        headers: dict[str, str],
        body: bytes | memoryview = b"",
        ok: tuple[int, ...] = (200,),
    ) -> Response:
        """One whole request (S3Client.request's blocking transport): the reply read into memory."""
        resp, data = self._call(method, bucket, key, params, lambda: dict(headers), body=body, ok=ok)
        return Response(resp.status, resp.headers, data)

    def download_range(
        self,
        bucket: str,
        key: str,
        start: int,
        end: int,
        path: str,
        on_bytes: Callable[[int], None],
        if_match: str = "",
        digest: Hasher | None = None,
        file_lock: threading.Lock | None = None,
    ) -> None:
        """Write bytes [start, end) of the object at the same offsets of the file `path` (resuming on retry).

        `digest` (an MD5 or CRC) is fed the bytes in order as they are written: a retry resumes where the data
        stopped. `file_lock`, shared by the ranges of one file, makes their writes take turns here rather than
        in the kernel: ext4 serialises writes to one file on its inode lock, and waiters spin on it
        (rwsem_spin_on_owner took 14 % of a 1 GiB download's CPU; `perf`, 2 vCPU).
        """
        turn = file_lock or contextlib.nullcontext()
        buffer = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = self._local.buffer = _aligned_buffer(_BUFFER)
        position = start
        unreported = 0  # bytes written but not yet passed to on_bytes (kept across a retry)

        def headers() -> dict[str, str]:
            found = {"Range": f"bytes={position}-{end - 1}"}
            if if_match:
                found["If-Match"] = f'"{if_match}"'
            return found

        fd = os.open(path, os.O_WRONLY)
        try:

            def consume(resp: http.client.HTTPResponse) -> None:
                nonlocal position, unreported
                while position < end:
                    n = resp.readinto(buffer[: min(_BUFFER, end - position)])
                    if not n:
                        raise http.client.IncompleteRead(b"", end - position)
                    with turn:
                        _write_at(fd, buffer[:n], position, path)
                    if digest is not None:
                        digest.update(buffer[:n])
                    position += n
                    unreported += n
                    if unreported >= _REPORT_EVERY or position == end:
                        on_bytes(unreported)
                        unreported = 0
                if resp.read(1):
                    raise S3Error(f"{self.client.describe(bucket, key)}: the server sent more than the requested range")

            self._call("GET", bucket, key, {}, headers, read_into=consume, ok=(200, 206))
        finally:
            os.close(fd)

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        path: str,
        start: int,
        end: int,
        checksum: str | None = None,
    ) -> tuple[str, RunningCrc | None]:
        """Read bytes [start, end) of `path` and send them as part `number`: (its ETag, its CRC).

        The server checks every byte: against the part's `checksum` CRC (an upload that asked for one), else
        against its MD5. A CRC the server does not echo was not checked: ChecksumNotConfirmed, not a pass.
        """
        fd = os.open(path, os.O_RDONLY)
        try:
            data = os.pread(fd, end - start, start)
        finally:
            os.close(fd)
        if len(data) != end - start:
            raise StorageError(f"{path} changed size while it was being uploaded")
        crc = None
        if checksum:
            crc = RunningCrc(checksum)
            crc.update(data)
            check = {header_name(checksum): encode(crc.value)}
        else:
            check = {"Content-MD5": md5_b64(data)}
        resp, _ = self._call(
            "PUT", bucket, key, {"partNumber": str(number), "uploadId": upload_id}, lambda: dict(check), body=data
        )
        echoed = resp.headers.get(header_name(crc.algorithm), "") if crc is not None else ""
        if crc is not None and not echoed:
            raise ChecksumNotConfirmed(
                f"{self.client.describe(bucket, key)}: the store did not confirm part {number}'s "
                f"{crc.algorithm.upper()}; set checksum = \"md5\" in the storage profile"
            )
        if crc is not None and echoed != encode(crc.value):
            raise S3Error(
                f"{self.client.describe(bucket, key)}: the store's {crc.algorithm.upper()} of part {number} is "
                f"{echoed}, the bytes sent make {encode(crc.value)}: corrupted in transit; re-run"
            )
        return resp.headers.get("ETag", ""), crc
