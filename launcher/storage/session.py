"""Turn URLs into (store, key) pairs for one run, sharing one S3 connection pool per endpoint.

With no endpoint configured, `obs://bucket/key` and `s3://bucket/key` live in the embedded directory store
`objects_root()/bucket/key`, through the same engine as a real server.
"""

from __future__ import annotations

import os

from launcher.paths import objects_root
from launcher.storage.profiles import Profile, load_profile
from launcher.storage.s3client import S3Client
from launcher.storage.stores import LocalStore, S3Store, Store
from launcher.storage.urls import StorageURL, parse_url


class Session:
    """Use as `async with Session() as s:`; closes its connection pools on exit."""

    def __init__(self, profile: Profile | None = None, *, max_connections: int = 128) -> None:
        self.profile = profile or load_profile()
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
            self._client = S3Client(self.profile, max_connections=self._max_connections)
        return self._client

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
