"""Run the dashboard on uvicorn, on a socket bound here first: a busy port is a clear error before anything
starts, port 0 picks a free one, and the URL printed is the one that works."""

from __future__ import annotations

import errno
import socket
import threading
import webbrowser
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from launcher.errors import UserError
from launcher.jobs import JobStore
from launcher.ui.app import create_app
from launcher.ui.security import LOOPBACK_HOSTS, Access

DEFAULT_PORT = 8765


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise UserError(f"port {port} on {host} is in use: pick another with --port (0 = any free port)") from None
        raise UserError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def make_server(sock: socket.socket, host: str, access: Access, store: JobStore | None = None) -> uvicorn.Server:
    app = create_app(access, store, bind_host=host)
    # Open log streams are cut after a second on shutdown instead of holding Ctrl-C until their jobs end.
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, access_log=False)
    return uvicorn.Server(config)


def serve(host: str = "127.0.0.1", port: int = DEFAULT_PORT, token: str | None = None, open_browser: bool = False) -> None:
    """Serve until Ctrl-C. Any host but loopback requires a token: the given one, or a new one printed once."""
    access = Access.for_host(host, token)
    sock = bind(host, port)
    server = make_server(sock, host, access)
    url = url_of(sock, host)
    if access.token is not None:
        print(f"launcher ui: {url}?token={access.token}", flush=True)
        print("  (the token is shown only now; anyone with it can stop and restart your jobs)", flush=True)
    else:
        print(f"launcher ui: {url}", flush=True)
    if host not in LOOPBACK_HOSTS:
        print(f"  listening on {host}: reachable from other machines, with the token", flush=True)
    if open_browser:
        webbrowser.open(url if access.token is None else f"{url}?token={access.token}")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


@contextmanager
def running(host: str = "127.0.0.1", access: Access | None = None, store: JobStore | None = None) -> Iterator[str]:
    """A dashboard on a free port in a background thread, for tests and benchmarks; yields its URL."""
    access = access or Access.for_host(host)
    sock = bind(host, 0)
    server = make_server(sock, host, access, store)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="launcher-ui", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the dashboard server did not start")
            threading.Event().wait(0.02)
        yield url_of(sock, host)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
