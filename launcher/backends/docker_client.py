"""One way to reach a Docker daemon, with errors a user can act on instead of the SDK's tracebacks."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from launcher.errors import UserError

if TYPE_CHECKING:
    import docker

DEFAULT_HOST = "unix:///var/run/docker.sock"


class DaemonUnreachable(UserError):
    """The daemon did not answer: a job's state cannot be known until it does."""


def daemon_url(docker_host: str | None) -> str:
    return docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def connect(docker_host: str | None = None, timeout: float | None = 120.0) -> docker.DockerClient:
    """A client for `docker_host` (else DOCKER_HOST, else the default socket), checked with a ping; `timeout`
    bounds every read (None: wait as long as the daemon takes, for followed logs)."""
    import docker  # the SDK is only needed by the docker backend

    url = daemon_url(docker_host)
    try:
        client = docker.DockerClient(base_url=url, timeout=None if timeout is None else int(timeout))
        client.ping()
    except docker.errors.DockerException as error:
        raise DaemonUnreachable(
            f"cannot reach the Docker daemon at {url}: {error}. Is dockerd running, and may you use its socket? "
            "Choose another daemon with --docker_host or DOCKER_HOST"
        ) from None
    return client


def api_message(error: Exception) -> str:
    """The daemon's own words from an APIError (its `explanation`), else the error text."""
    explanation = getattr(error, "explanation", None)
    if isinstance(explanation, bytes):
        explanation = explanation.decode(errors="replace")
    return str(explanation or error).strip()
