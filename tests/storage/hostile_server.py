"""A tiny S3 look-alike on loopback that answers every request with the same hostile reply.

For what a real server will not do: a listing that is not XML (an HTML error page from a proxy, a truncated
body), or a reply that is not even HTTP (`raw`). Start with `with HostileServer(status, body) as server:` and
point S3_ENDPOINT at `server.endpoint`.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HostileServer:
    def __init__(self, status: int, body: bytes, content_type: str = "application/xml", raw: bytes = b"") -> None:
        self.status, self.body, self.content_type, self.raw = status, body, content_type, raw
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server.requests.append(f"{self.command} {self.path}")
                if server.raw:  # not HTTP at all: then hang up
                    self.wfile.write(server.raw)
                    self.close_connection = True
                    return
                self.send_response(server.status)
                self.send_header("Content-Type", server.content_type)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(server.body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _answer

        return Handler
