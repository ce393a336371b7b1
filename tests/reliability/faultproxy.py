"""An HTTP proxy in front of the S3 server that fails requests on purpose: throttling, 5xx, connection resets.

Faults are deterministic: each distinct request (method + path + query) fails its first `failures` attempts, then
passes. With fewer failures than the client's attempts every request must succeed after retries; with more, the
client must give up with a clear error. `flip` corrupts instead of failing: the first `failures` GETs of each
object (no query: not listings) get their first byte inverted, with the server's own status and headers (what a
faulty middlebox or disk does, unseen by HTTP). The Host header is forwarded unchanged, so SigV4 signatures still verify.

Two modes play a store without S3's checksum headers (checksums.py): `ignore-checksums` drops every
`x-amz-checksum-*` header from the replies (a store that ignores them, so never confirms one);
`refuse-checksums` answers a request that asks for a checksum algorithm with 400 InvalidArgument (a store that
refuses headers it does not know). `injected` counts those refusals. `unconfirmed-parts` drops them from the
replies to UploadPart only (a store that confirms the checksum at create, not per part).
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

Fault = Literal["throttle", "error", "reset", "flip", "ignore-checksums", "refuse-checksums", "unconfirmed-parts"]
_BODIES = {
    "throttle": (503, "SlowDown", "Please reduce your request rate."),
    "error": (500, "InternalError", "We encountered an internal error. Please try again."),
    "refuse-checksums": (400, "InvalidArgument", "Unsupported header 'x-amz-checksum-algorithm' received."),
}


class FaultProxy:
    def __init__(self, upstream: str, fault: Fault, failures: int, retry_after: str | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname or "127.0.0.1", parts.port or 80
        self.fault = fault
        self.failures = failures
        self.retry_after = retry_after  # a Retry-After header on the injected error replies
        self.seen: Counter[str] = Counter()
        self.injected = 0
        self.forwarded = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _should_fail(self, key: str) -> bool:
        with self._lock:
            self.seen[key] += 1
            fail = self.seen[key] <= self.failures
            if fail:
                self.injected += 1
            else:
                self.forwarded += 1
            return fail

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                key = f"{self.command} {self.path}"
                flip = proxy.fault == "flip" and self.command == "GET" and "?" not in self.path
                if flip:
                    flip = proxy._should_fail(key)
                elif proxy.fault == "refuse-checksums":
                    if "x-amz-checksum-algorithm" in self.headers:
                        with proxy._lock:
                            proxy.injected += 1
                        self._inject()
                        return
                elif proxy.fault not in ("flip", "ignore-checksums", "unconfirmed-parts") and proxy._should_fail(key):
                    self._inject()
                    return
                upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                    if flip and 200 <= response.status < 300 and data:
                        data = bytes([data[0] ^ 0xFF]) + data[1:]
                    self.send_response(response.status, response.reason)
                    head = self.command == "HEAD"  # a HEAD's Content-Length is the object's size, sent without a body
                    for name, value in response.getheaders():
                        skip = ("connection", "transfer-encoding", "keep-alive") + (() if head else ("content-length",))
                        part = self.command == "PUT" and "partNumber=" in self.path
                        hide = proxy.fault == "ignore-checksums" or (proxy.fault == "unconfirmed-parts" and part)
                        if hide and name.lower().startswith("x-amz-checksum-"):
                            continue
                        if name.lower() not in skip:
                            self.send_header(name, value)
                    if not head:
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    upstream.close()

            def _inject(self) -> None:
                if proxy.fault == "reset":
                    # RST instead of FIN: the client sees "connection reset by peer".
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                status, code, message = _BODIES[proxy.fault]
                body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                if proxy.retry_after is not None:
                    self.send_header("Retry-After", proxy.retry_after)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":  # a body after a HEAD reply would garble the next reply on the connection
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        return Handler
