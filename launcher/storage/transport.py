"""TLS and proxy settings shared by both HTTP paths to an endpoint (http11.py on the loop, http.client on threads).

- TLS: the system's CAs, or the profile's `ca_bundle` (AWS_CA_BUNDLE / REQUESTS_CA_BUNDLE) for a private CA;
  `verify_ssl = false` turns checking off, with one warning per process.
- Proxy: HTTPS_PROXY / HTTP_PROXY / NO_PROXY (any case), as curl and botocore read them. Chosen explicitly
  per host rather than with aiohttp's trust_env (aiohttp carries the proxied requests), which would also look up
  ~/.netrc on every request and add its password to requests that we sign ourselves.
"""

from __future__ import annotations

import http.client
import os
import ssl
import threading
import urllib.request
from urllib.parse import urlsplit

from launcher.logs import logger
from launcher.storage.errors import StorageError
from launcher.storage.profiles import Profile

# Both paths: how requests name the client, and the age past which an idle keep-alive connection is replaced
# rather than reused (servers close idle ones, AWS after ~20 s, and a request on a closed one would cost a
# failed attempt and a retry delay).
USER_AGENT = "launcher-storage/0.1"
KEEPALIVE_IDLE_S = 10.0

_warned_unverified: set[str] = set()
_contexts: dict[tuple[bool, str], ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def ssl_context(profile: Profile) -> ssl.SSLContext:
    """The context every HTTPS connection to the profile's endpoint uses: one per settings in a process.

    Building one loads the CA store (tens of ms here); a context is safe to share between connections and
    threads, and each part worker, each blocking call and each pool would otherwise build its own.
    """
    if not profile.verify_ssl and profile.endpoint not in _warned_unverified:
        _warned_unverified.add(profile.endpoint or "")
        logger.warning(
            "TLS certificate checking is OFF for {} (verify_ssl=false): anyone on the path can read and "
            "change the data; give the CA with AWS_CA_BUNDLE or ca_bundle instead",
            profile.endpoint,
        )
    key = (profile.verify_ssl, os.path.expanduser(profile.ca_bundle) if profile.ca_bundle else "")
    with _contexts_lock:
        context = _contexts.get(key)
        if context is None:
            context = _contexts[key] = _new_context(*key)
        return context


def _new_context(verify: bool, ca_bundle: str) -> ssl.SSLContext:
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_bundle:
        try:
            return ssl.create_default_context(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise StorageError(f"cannot load the CA bundle {ca_bundle} (ca_bundle / AWS_CA_BUNDLE): {exc}") from None
    return ssl.create_default_context()


def proxy_for(scheme: str, host: str) -> str | None:
    """The proxy URL for requests to `host` (no port), or None: direct, or listed in NO_PROXY."""
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme)
    if not proxy:
        return None
    if urllib.request.proxy_bypass_environment(host, proxies):
        return None
    return proxy if "://" in proxy else "http://" + proxy


class _AbsoluteFormConnection(http.client.HTTPConnection):
    """Plain HTTP through a forwarding proxy: the request line carries the whole URL (RFC 9112 absolute-form)."""

    def __init__(self, target_host: str, proxy_host: str, proxy_port: int | None, timeout: float) -> None:
        super().__init__(proxy_host, proxy_port, timeout=timeout)
        self._target = target_host

    def putrequest(self, method: str, url: str, skip_host: bool = False, skip_accept_encoding: bool = False) -> None:
        super().putrequest(method, f"http://{self._target}{url}", skip_host, skip_accept_encoding)


def http_connection(profile: Profile, host: str, timeout: float) -> http.client.HTTPConnection:
    """A blocking connection to `host` (host[:port]) of the profile's endpoint, with its TLS and proxy settings."""
    https = urlsplit(profile.endpoint or "").scheme == "https"
    hostname = urlsplit("//" + host).hostname or host
    proxy = proxy_for("https" if https else "http", hostname)
    if https:
        if proxy is None:
            return http.client.HTTPSConnection(host, timeout=timeout, context=ssl_context(profile))
        parts = urlsplit(proxy)
        conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout, context=ssl_context(profile))
        conn.set_tunnel(host)  # CONNECT: the proxy sees only the host, TLS runs end to end
        return conn
    if proxy is None:
        return http.client.HTTPConnection(host, timeout=timeout)
    parts = urlsplit(proxy)
    return _AbsoluteFormConnection(host, parts.hostname or "", parts.port, timeout)
