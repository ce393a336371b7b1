"""One way to reach a Docker daemon, with errors a user can act on instead of the SDK's tracebacks."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from launcher.errors import UserError

if TYPE_CHECKING:
    import docker

DEFAULT_HOST = "unix:///var/run/docker.sock"
MIN_API_VERSION = "1.24"  # enough to ask a daemon for its own version


class DaemonUnreachable(UserError):
    """The daemon did not answer: a job's state cannot be known until it does."""


def daemon_url(docker_host: str | None) -> str:
    return docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def tls_config(url: str) -> docker.tls.TLSConfig | None:
    """TLS for a tcp:// daemon as `docker` and docker.from_env read it: DOCKER_TLS_VERIFY (check the daemon's
    certificate) and DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem; default ~/.docker). None for local sockets."""
    import docker

    if not url.startswith(("tcp://", "https://")):
        return None
    try:
        return docker.utils.kwargs_from_env().get("tls")
    except docker.errors.TLSParameterError as error:
        raise UserError(f"Docker TLS settings (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH): {error}") from None


def connect(docker_host: str | None = None, timeout: float | None = 120.0) -> docker.DockerClient:
    """A client for `docker_host` (else DOCKER_HOST, else the default socket), checked with a ping; `timeout`
    bounds every read (None: wait as long as the daemon takes, for followed logs)."""
    import docker  # the SDK is only needed by the docker backend

    url = daemon_url(docker_host)
    tls = tls_config(url)
    seconds = None if timeout is None else int(timeout)
    try:
        if tls is None:
            client = docker.DockerClient(base_url=url, timeout=seconds)
        else:
            client = _tls_client(url, tls, seconds)
        client.ping()
    except docker.errors.DockerException as error:
        raise DaemonUnreachable(
            f"cannot reach the Docker daemon at {url}: {error}. Is dockerd running, and may you use its socket? "
            "Choose another daemon with --docker_host or DOCKER_HOST"
        ) from None
    return client


def _tls_client(url: str, tls: docker.tls.TLSConfig, timeout: int | None) -> docker.DockerClient:
    """A client that verifies the daemon against DOCKER_CERT_PATH's ca.pem. requests would let REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE replace that CA on every call (psf/requests#3829), so the session does not read the environment;
    proxies are taken from it here instead. The API version is asked for on that session, not by the SDK's own
    first call, which would still read the environment."""
    import docker
    import requests

    def without_env(api: docker.APIClient) -> docker.APIClient:
        api.trust_env = False
        api.proxies = requests.utils.get_environ_proxies(url.replace("tcp://", "https://", 1))
        return api

    probe = without_env(docker.APIClient(base_url=url, tls=tls, timeout=timeout, version=MIN_API_VERSION))
    try:
        version = probe.version(api_version=False)["ApiVersion"]
    finally:
        probe.close()
    client = docker.DockerClient(base_url=url, tls=tls, timeout=timeout, version=version)
    without_env(client.api)
    return client


def api_message(error: Exception) -> str:
    """The daemon's own words from an APIError (its `explanation`), else the error text."""
    explanation = getattr(error, "explanation", None)
    if isinstance(explanation, bytes):
        explanation = explanation.decode(errors="replace")
    return str(explanation or error).strip()
