"""Storage keys reach a container as a private read-only file, never its environment (`docker inspect`), and a
tcp:// Docker host is spoken to with mutual TLS from DOCKER_TLS_VERIFY / DOCKER_CERT_PATH."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from entry.credentials import CREDENTIALS_IN_CONTAINER, ENV_CREDENTIALS_FILE, load_credentials
from launcher.backends import get_backend
from launcher.backends.docker.backend import DockerBackend, DockerRequest, credentials_path
from launcher.backends.docker.client import DaemonUnreachable, connect
from launcher.cli import seed_demo_data
from launcher.errors import UserError
from launcher.jobs import JobState, JobStore
from launcher.jobspec import plan_job
from launcher.paths import objects_root
from launcher.redact import redact
from tests.docker.conftest import Daemon
from tests.docker.rootfs import RuntimeImage
from tests.launcher.helpers import FIXTURES, run_cli, wait_terminal

PROBE = Path(__file__).resolve().parent / "fixtures" / "probe.yaml"
KEYS = {
    "ACCESS_KEY_ID": "AKIDprobe0000000001",
    "SECRET_ACCESS_KEY": "sk-probe-secret-value-17",
    "SESSION_TOKEN": "session-token-probe-29",
}


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    return KEYS


def render(options: dict[str, Any] | None = None) -> DockerRequest:
    spec = plan_job(FIXTURES / "toy_counter.yaml", {}, resources={"backend": "docker", "image": "img:1"})
    request = get_backend("docker", JobStore(), options or {}).render(spec)
    assert isinstance(request, DockerRequest)
    return request


def test_render_keeps_keys_out_of_the_environment_and_the_printout(keys: dict[str, str]) -> None:
    request = render()
    assert not set(KEYS) & set(request.environment)
    assert request.environment[ENV_CREDENTIALS_FILE] == CREDENTIALS_IN_CONTAINER
    mounts = {m.target: m for m in request.mounts}
    assert mounts[CREDENTIALS_IN_CONTAINER].read_only
    assert mounts[CREDENTIALS_IN_CONTAINER].source == str(credentials_path(request.job_id))
    printed = request.model_dump_json() + request.command_line()
    assert not [v for v in KEYS.values() if v in printed]  # the values are read by send, never held by the request


def test_cli_render_does_not_print_the_key_id(keys: dict[str, str]) -> None:
    result = run_cli("render", str(FIXTURES / "toy_counter.yaml"), "--backend", "docker", "--image", "img:1")
    assert result.returncode == 0, result.stderr
    assert not [v for v in KEYS.values() if v in result.stdout + result.stderr]
    assert CREDENTIALS_IN_CONTAINER in result.stdout


def test_the_entry_loads_the_file_and_masks_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"ACCESS_KEY_ID": "AKIDloaded12345"}))
    environ = {ENV_CREDENTIALS_FILE: str(path)}
    assert load_credentials(environ) == ["ACCESS_KEY_ID"]
    assert environ["ACCESS_KEY_ID"] == "AKIDloaded12345"
    assert redact("key AKIDloaded12345 used") == "key *** used"
    path.write_text("[1, 2]")
    with pytest.raises(UserError, match="not a JSON object"):
        load_credentials(environ)
    with pytest.raises(UserError, match="cannot read"):
        load_credentials({ENV_CREDENTIALS_FILE: str(tmp_path / "missing.json")})
    assert load_credentials({}) == []


def tls_env(monkeypatch: pytest.MonkeyPatch, dockerd: Daemon) -> None:
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(dockerd.cert_path))


def test_tcp_host_without_tls_settings_is_one_clear_line(dockerd: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    monkeypatch.delenv("DOCKER_CERT_PATH", raising=False)
    with pytest.raises(DaemonUnreachable) as error:
        connect(dockerd.tls_url, timeout=10)
    assert dockerd.tls_url in str(error.value) and "\n" not in str(error.value)


def test_tls_settings_pointing_nowhere_are_a_user_error(
    dockerd: Daemon, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tmp_path / "no-certs"))
    with pytest.raises(UserError, match="DOCKER_CERT_PATH"):
        connect(dockerd.tls_url, timeout=10)


def test_a_job_over_mutual_tls_never_has_keys_in_its_environment(
    dockerd: Daemon,
    runtime_image: RuntimeImage,
    docker_options: dict[str, Any],
    keys: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tls_env(monkeypatch, dockerd)
    options = {**docker_options, "docker_host": dockerd.tls_url, "keep_container": True}
    store = JobStore()
    backend = get_backend("docker", store, options)
    assert isinstance(backend, DockerBackend)
    probe = {"digests": sorted(KEYS), "modes": [CREDENTIALS_IN_CONTAINER]}
    spec = plan_job(PROBE, probe, resources={"backend": "docker", "image": runtime_image.tag})
    seed_demo_data(spec)
    record = backend.submit(spec)
    final = wait_terminal(store, record.id, backend)
    assert final.state is JobState.SUCCEEDED, "".join(backend.logs(record.id))

    out = objects_root() / spec.train_url.removeprefix("obs://")
    seen = json.loads((out / "nested" / "probe-rank-0.json").read_text())
    # The trainer (a child of the entry) has every key, loaded from a 0600 file mounted read-only...
    assert seen["digests"] == {k: hashlib.sha256(v.encode()).hexdigest() for k, v in KEYS.items()}
    assert seen["modes"] == {CREDENTIALS_IN_CONTAINER: "0o600"}
    # ...and what `docker inspect` shows holds none of them.
    container = dockerd.client.containers.get(f"launcher-{record.id}")
    inspected = json.dumps(container.attrs)
    assert not [v for v in KEYS.values() if v in inspected]
    mount = next(m for m in container.attrs["Mounts"] if m["Destination"] == CREDENTIALS_IN_CONTAINER)
    assert mount["RW"] is False
    assert not credentials_path(record.id).exists()  # removed from the host once the end was recorded
    container.remove(force=True)
