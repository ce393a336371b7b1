"""Turn URLs into (store, key) pairs for one run, on connection pools that live as long as the process.

With no endpoint configured, `obs://bucket/key` and `s3://bucket/key` live in the embedded directory store
`objects_root()/bucket/key`, through the same engine as a real server.

A Session is cheap: one per blocking call (api.py). Its S3 client is too (its own retry budget, endpoint
health and part-transfer threads, so one call's give-up or cancellation never leaks into the next); what is
shared is the HTTP connection pool, one per endpoint settings on runner.py's long-lived loop, so consecutive
calls reuse warm connections. A Session used on another loop (a test's own `asyncio.run`) owns its pool.

A process that sends a few requests and exits (the `launcher data` command: `prefer_blocking_requests()`)
sends them over http.client instead (s3client.py's blocking transport), and moves to the event-loop pool
(http11.py) only when a run is about to keep many requests in flight (`expect_requests`: the sync engine says
so before it fans out over small files). The rule was made when that pool was aiohttp (~0.2 s to import, more
than a listing, a no-change re-sync or a large file's few control requests take); http11 imports in ~10 ms.
Large files' parts go over http.client threads (bulk.py) either way. The sync engine starts every run that way
too when no warm pool is open for its endpoint (`start_with_few_requests`): the blocking transport's
connections are kept per thread between calls (bulk.py), so a process that makes many short runs does not
open a connection per run.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from launcher.paths import objects_root
from launcher.storage import runner
from launcher.storage.profiles import Profile, load_profile
from launcher.storage.stores import LocalStore, S3Store, Store
from launcher.storage.urls import StorageURL, parse_url

if TYPE_CHECKING:  # the HTTP client is imported on first S3 use
    from launcher.storage.http11 import HttpPool

    from launcher.storage.s3client import S3Client

# Connection pools on the shared loop, per what shapes a connection (never the credentials: they sign
# requests, they do not change the connection). Emptied in a forked child with the loop (runner.py).
_PoolKey = tuple[str, bool, str, float, float, int]
_pools: dict[_PoolKey, HttpPool] = {}
_pools_loop: object | None = None
# Pools a forked child inherited: kept referenced, never closed or collected. Their sockets are registered in
# the parent's epoll instance, which the child shares; closing them here would unregister them for the parent.
_inherited_pools: list[HttpPool] = []
_blocking_requests = False
# Up to this many requests at once, the blocking transport's threads keep up (the loop's executor has 6+).
_FEW_REQUESTS = 16


def prefer_blocking_requests() -> None:
    """This process sends a few requests and exits: Sessions that do not move data use http.client."""
    global _blocking_requests
    _blocking_requests = True


def _pool_key(profile: Profile, max_connections: int) -> _PoolKey:
    return (
        profile.endpoint or "",
        profile.verify_ssl,
        profile.ca_bundle or "",  # the TLS context is the pool's: another CA is another pool
        profile.connect_timeout_s,
        profile.read_timeout_s,
        max_connections,
    )


def _warm_pool(profile: Profile, max_connections: int) -> bool:
    """Whether a pool for these settings is already open on the shared loop (and the caller runs on it)."""
    if not runner.on_loop() or _pools_loop is not runner.current_loop():
        return False
    pool = _pools.get(_pool_key(profile, max_connections))
    return pool is not None and not pool.closed


def _shared_pool(profile: Profile, max_connections: int) -> HttpPool:
    global _pools_loop
    loop = runner.current_loop()
    if _pools_loop is not loop:  # first use on this loop (or in a forked child): the old pools are not ours
        _inherited_pools.extend(_pools.values())
        _pools.clear()
        _pools_loop = loop
        runner.at_close(_close_pools)
    key = _pool_key(profile, max_connections)
    pool = _pools.get(key)
    if pool is None or pool.closed:
        from launcher.storage.s3client import new_http_session

        pool = _pools[key] = new_http_session(profile, max_connections)
    return pool


async def _close_pools() -> None:
    pools = list(_pools.values())
    _pools.clear()
    for pool in pools:
        await pool.close()


class Session:
    """Use as `async with Session() as s:`; releases its client on exit."""

    def __init__(self, profile: Profile | None = None, *, max_connections: int = 128) -> None:
        self.profile = profile or load_profile()
        self._blocking = _blocking_requests
        self._max_connections = max_connections
        self._client: S3Client | None = None
        self._local_root = LocalStore("/")

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def client(self) -> S3Client:
        if self._client is None:
            from launcher.storage.s3client import S3Client

            if self._blocking:
                self._client = S3Client(self.profile, max_connections=self._max_connections, blocking=True)
                return self._client
            pool = _shared_pool(self.profile, self._max_connections) if runner.on_loop() else None
            self._client = S3Client(self.profile, max_connections=self._max_connections, http=pool)
        return self._client

    def start_with_few_requests(self) -> None:
        """What comes first is a few requests (a sync's stats and listings): unless a warm pool is open for
        the endpoint, send them over http.client (kept connections, bulk.py) and leave aiohttp (its import,
        ~0.15 s) to `expect_requests` when the run fans out. A large file or a no-change re-sync never does.
        Call before the first request."""
        if self._client is None and not self._blocking:
            self._blocking = not _warm_pool(self.profile, self._max_connections)

    def expect_requests(self, count: int) -> None:
        """About `count` requests are going to be in flight together: more than a few go over the event-loop pool."""
        client = self._client
        if client is None or not client.blocking or count <= _FEW_REQUESTS:
            return
        pool = _shared_pool(self.profile, self._max_connections) if runner.on_loop() else None
        client.use_pool(pool)

    def open(self, url: str | StorageURL) -> tuple[Store, str]:
        """The store holding `url` and the key of `url` inside it (may be '' or end with '/')."""
        parsed = url if isinstance(url, StorageURL) else parse_url(url)
        if parsed.is_local:
            path = parsed.path
            key = path.lstrip(os.sep)
            return self._local_root, key
        if self.profile.embedded:
            store = LocalStore(
                os.path.join(objects_root(), parsed.bucket),
                url_prefix=f"{parsed.scheme}://{parsed.bucket}/",
                prune_empty_dirs=True,
            )
            return store, parsed.key
        return S3Store(self.client, parsed.bucket, parsed.scheme), parsed.key
