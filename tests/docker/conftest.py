"""A private dockerd for the Docker backend tests, and an offline image that runs the project's Python.

The daemon is Debian's `docker.io` with its own data root, exec root, unix socket and config file, no bridge and
no iptables, so it touches nothing of the host's Docker and needs no network. It also listens on a loopback
TCP port with mutual TLS (--tlsverify, certificates from trustme), as a remote Docker host does. It lives for
the test session; teardown removes its containers, stops it, lazily unmounts anything left under its folder and
deletes that.
Where no daemon can start (no dockerd, not root, a kernel without overlay or cgroups) the tests that need it skip
with the reason; LAUNCHER_REQUIRE_DOCKER=1 (set by scripts/test.sh under CI) turns that skip into a failure.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.docker.rootfs import RuntimeImage, ensure_runtime_image
from tests.services import REQUIRE_DOCKER, unavailable

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
MNT_DETACH = 2


@dataclass
class Daemon:
    url: str
    root: Path
    client: Any  # docker.DockerClient
    tls_url: str  # tcp://127.0.0.1:<port>, mutual TLS only
    cert_path: Path  # ca.pem, cert.pem, key.pem for a client: what DOCKER_CERT_PATH names


def _tls_files(root: Path) -> tuple[Path, list[str]]:
    """A CA, the daemon's certificate for 127.0.0.1 and a client's, laid out as Docker expects them."""
    import trustme

    ca = trustme.CA()
    server, client = ca.issue_cert("127.0.0.1"), ca.issue_cert("launcher-tests-client")
    server_dir, client_dir = root / "tls-server", root / "tls-client"
    for folder in (server_dir, client_dir):
        folder.mkdir()
        ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    server.cert_chain_pems[0].write_to_path(str(server_dir / "cert.pem"))
    server.private_key_pem.write_to_path(str(server_dir / "key.pem"))
    client.cert_chain_pems[0].write_to_path(str(client_dir / "cert.pem"))
    client.private_key_pem.write_to_path(str(client_dir / "key.pem"))
    flags = [
        "--tlsverify",
        f"--tlscacert={server_dir / 'ca.pem'}",
        f"--tlscert={server_dir / 'cert.pem'}",
        f"--tlskey={server_dir / 'key.pem'}",
    ]
    return client_dir, flags


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _skip(reason: str) -> None:
    unavailable(f"no private dockerd: {reason}", REQUIRE_DOCKER)


def _why_no_daemon() -> str | None:
    if shutil.which("dockerd") is None:
        return "dockerd not found (apt-get install -y docker.io)"
    if os.geteuid() != 0:
        return "a private dockerd needs root"
    try:
        import docker  # noqa: F401
    except ImportError:
        return "the Docker SDK for Python is not installed (pip install docker)"
    return None


def _mounts_under(root: Path) -> list[str]:
    """Mount points at or below `root`, deepest first (/proc/self/mountinfo escapes spaces as \\040)."""
    points = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = line.split()[4].replace("\\040", " ")
            if point == str(root) or point.startswith(f"{root}/"):
                points.append(point)
    return sorted(points, key=len, reverse=True)


def _unmount_all(root: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for point in _mounts_under(root):
        libc.umount2(point.encode(), MNT_DETACH)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: the daemon and its containerd
            process.wait()


@pytest.fixture(scope="session")
def dockerd() -> Iterator[Daemon]:
    reason = _why_no_daemon()
    if reason:
        _skip(reason)
    import docker

    # Short and outside pytest's tmp tree: a unix socket path must stay under 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="ld-", dir="/tmp"))
    (root / "daemon.json").write_text("{}")  # not the host's /etc/docker/daemon.json
    url = f"unix://{root}/docker.sock"
    tls_url = f"tcp://127.0.0.1:{_free_port()}"
    cert_path, tls_flags = _tls_files(root)
    command = [
        "dockerd", f"--data-root={root}/data", f"--exec-root={root}/exec", f"--pidfile={root}/dockerd.pid",
        f"--host={url}", f"--host={tls_url}", *tls_flags,
        f"--config-file={root}/daemon.json", "--iptables=false", "--bridge=none",
        "--ip-masq=false", "--userland-proxy=false", "--log-level=warn",
    ]  # fmt: skip
    with open(root / "dockerd.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    client = None
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while client is None:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (root / "dockerd.log").read_text(errors="replace").strip().splitlines()[-5:]
                _skip(f"the private dockerd did not start: {' | '.join(tail) or 'no output'}")
            if (root / "docker.sock").exists():
                try:
                    candidate = docker.DockerClient(base_url=url, timeout=120)
                    candidate.ping()
                    client = candidate
                except docker.errors.DockerException:
                    pass
            time.sleep(0.2)
        yield Daemon(url=url, root=root, client=client, tls_url=tls_url, cert_path=cert_path)
    finally:
        if client is not None:
            for container in client.containers.list(all=True):
                container.remove(force=True)
            client.close()
        _stop(process)
        _unmount_all(root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def runtime_image(dockerd: Daemon) -> RuntimeImage:
    """Imported once a session (~10 s): system libraries only, the interpreter and venv are mounted."""
    return ensure_runtime_image(dockerd.client)


@pytest.fixture
def docker_options(dockerd: Daemon, runtime_image: RuntimeImage) -> dict[str, Any]:
    """Backend options that run the test image on the private daemon (no network: --bridge=none)."""
    return {
        "docker_host": dockerd.url,
        "python": runtime_image.python,
        "volumes": runtime_image.mounts,
        "network": "none",
        "grace_seconds": 10,
    }
