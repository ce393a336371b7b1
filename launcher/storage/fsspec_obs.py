"""`obs://` for every library that opens fsspec URLs (fsspec.open, pandas, pyarrow, datasets, ...).

    import fsspec, launcher.storage
    with fsspec.open("obs://bucket/data/train.csv") as fh: ...

Configured from the same storage profile as the rest of the launcher (profiles.py, credentials.py):
with an endpoint it is s3fs with that endpoint, addressing style, keys and token (or botocore's chain for
the profile's AWS profile), region, CA bundle and OBS-safe checksums; with no endpoint it is the embedded
store's folder (LAUNCHER_HOME/objects/<bucket>/<key>), so offline code reads what `launcher data` wrote.

Registered with fsspec by fsspec_hook.py (importing `launcher.storage` does it) or by the entry point
`[project.entry-points."fsspec.specs"] obs = "launcher.storage.fsspec_obs:OBSFileSystem"`.
"""

from __future__ import annotations

from typing import Any

import s3fs

from launcher.storage.fsspec_hook import PROTOCOL
from launcher.storage.profiles import Profile, load_profile


def s3fs_options(profile: Profile) -> dict[str, Any]:
    """s3fs.S3FileSystem keyword arguments for `profile` (which must have an endpoint)."""
    from launcher.storage import credentials
    from launcher.storage.s3client import S3Client

    style = profile.addressing_style
    if style == "auto":
        # botocore's "auto" means path style on a custom endpoint: decide as our own client does (virtual-host
        # unless the endpoint is an IP, localhost or dotless; botocore keeps path style for non-DNS bucket names).
        style = "path" if profile.use_path_style("dns-compatible-name") else "virtual"
    config: dict[str, Any] = {
        "s3": {"addressing_style": style},
        # OBS (and older S3-compatible servers) reject the trailing CRC checksums botocore >= 1.36 adds.
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
        "retries": {"max_attempts": profile.max_attempts, "mode": "standard"},
        "connect_timeout": profile.connect_timeout_s,
        "read_timeout": profile.read_timeout_s,
    }
    client_kwargs: dict[str, Any] = {"region_name": S3Client.resolve_region(profile)}
    if not profile.verify_ssl:
        client_kwargs["verify"] = False
    elif profile.ca_bundle:
        client_kwargs["verify"] = profile.ca_bundle
    options: dict[str, Any] = {
        "endpoint_url": profile.endpoint,
        "client_kwargs": client_kwargs,
        "config_kwargs": config,
    }
    if profile.anonymous:
        options["anon"] = True
    elif (static := credentials.static_source(profile)) is not None:
        keys = static.frozen
        options.update(key=keys.access_key, secret=keys.secret_key, token=keys.token)
    elif profile.aws_profile:
        options["profile"] = profile.aws_profile  # botocore's chain inside s3fs: refreshable keys stay refreshable
    return options


def _embedded_fs(profile: Profile) -> Any:
    from fsspec.implementations.dirfs import DirFileSystem
    from fsspec.implementations.local import LocalFileSystem

    from launcher.paths import objects_root

    class EmbeddedOBSFileSystem(DirFileSystem):
        protocol = (PROTOCOL,)

    root = objects_root()
    root.mkdir(parents=True, exist_ok=True)
    return EmbeddedOBSFileSystem(path=str(root), fs=LocalFileSystem(auto_mkdir=True))


class OBSFileSystem(s3fs.S3FileSystem):
    """fsspec file system for obs:// (s3fs against the profile's endpoint, or the embedded store's folder)."""

    protocol = (PROTOCOL,)
    cachable = False  # the profile (environment, profiles.toml) may change between calls: build afresh

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        profile = load_profile()
        if profile.embedded:
            return _embedded_fs(profile)  # not an OBSFileSystem, so s3fs's __init__ is skipped
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**s3fs_options(load_profile()), **kwargs})
