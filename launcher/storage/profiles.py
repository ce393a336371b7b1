"""Where object-store URLs go: named profiles from LAUNCHER_HOME/profiles.toml, overridden by the environment.

    # LAUNCHER_HOME/profiles.toml  (choose one with LAUNCHER_STORAGE_PROFILE; default "default")
    [default]
    endpoint = "https://obs.cn-north-4.myhuaweicloud.com"
    access_key_id = "..."
    secret_access_key = "..."

Environment (what ModelArts and moxing scripts set) wins over the file: S3_ENDPOINT (with or without scheme),
S3_USE_HTTPS, S3_VERIFY_SSL, ACCESS_KEY_ID / SECRET_ACCESS_KEY, and the AWS names (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_DEFAULT_REGION).
With no endpoint at all, obs:// and s3:// use the embedded store under LAUNCHER_HOME/objects.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from launcher.paths import launcher_home, warn_if_exposed
from launcher.redact import register_secret
from launcher.storage.errors import StorageError

PROFILE_FILE = "profiles.toml"
PROFILE_ENV = "LAUNCHER_STORAGE_PROFILE"
_REGION_IN_HOST = re.compile(r"^(?:obs|s3)[.-]([a-z0-9-]+)\.(?:myhuaweicloud\.com|amazonaws\.com)")


class Profile(BaseModel):
    """Connection settings for one S3-compatible service. Secrets are SecretStr: they never print."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "default"
    endpoint: str | None = None
    region: str | None = None
    addressing_style: Literal["auto", "virtual", "path"] = "auto"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    verify_ssl: bool = True
    max_attempts: int = Field(default=6, ge=1, le=20)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    read_timeout_s: float = Field(default=120.0, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _endpoint_has_scheme(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if "://" not in value:
            value = "https://" + value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"endpoint must be http(s)://host[:port], got {value!r}")
        return value

    @property
    def embedded(self) -> bool:
        """No endpoint: obs:// and s3:// live in the local directory store."""
        return self.endpoint is None

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint or "").netloc

    @property
    def signing_region(self) -> str:
        if self.region:
            return self.region
        found = _REGION_IN_HOST.match(urlsplit(self.endpoint or "").hostname or "")
        return found.group(1) if found else "us-east-1"

    def use_path_style(self, bucket: str) -> bool:
        """Virtual-host addressing for public endpoints (OBS requires it); path-style for local servers."""
        if self.addressing_style != "auto":
            return self.addressing_style == "path"
        parts = urlsplit(self.endpoint or "")
        hostname = parts.hostname or ""
        if hostname == "localhost" or "." not in hostname or parts.port is not None or _is_ip(hostname):
            return True
        # A bucket that is not a plain DNS label cannot be a host name (dots also break TLS wildcards).
        return not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", bucket)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _truthy(value: str) -> bool:
    return value.strip().lower() not in ("0", "false", "no", "off", "")


def _from_env(env: Mapping[str, str]) -> dict[str, object]:
    found: dict[str, object] = {}
    endpoint = env.get("S3_ENDPOINT") or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        endpoint = endpoint.strip()
        if "://" not in endpoint and "S3_USE_HTTPS" in env:
            endpoint = ("https://" if _truthy(env["S3_USE_HTTPS"]) else "http://") + endpoint
        found["endpoint"] = endpoint
    if "S3_VERIFY_SSL" in env:
        found["verify_ssl"] = _truthy(env["S3_VERIFY_SSL"])
    for field, names in (
        ("access_key_id", ("ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID")),
        ("secret_access_key", ("SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY")),
        ("session_token", ("SESSION_TOKEN", "AWS_SESSION_TOKEN")),
        ("region", ("S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")),
    ):
        for name in names:
            if env.get(name):
                found[field] = env[name]
                break
    if env.get("S3_ADDRESSING_STYLE"):
        found["addressing_style"] = env["S3_ADDRESSING_STYLE"]
    if env.get("LAUNCHER_S3_MAX_ATTEMPTS"):
        found["max_attempts"] = int(env["LAUNCHER_S3_MAX_ATTEMPTS"])
    return found


def read_profile_file(name: str) -> dict[str, object]:
    path = launcher_home() / PROFILE_FILE
    if not path.is_file():
        if name != "default":
            raise StorageError(f"storage profile {name!r} not found: {path} does not exist")
        return {}
    warn_if_exposed(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise StorageError(f"cannot read {path}: {exc}") from None
    section = data.get(name)
    if section is None:
        if name != "default":
            raise StorageError(f"storage profile {name!r} not found in {path} (has: {', '.join(data) or 'none'})")
        return {}
    if not isinstance(section, dict):
        raise StorageError(f"{path}: [{name}] must be a table")
    return dict(section)


def load_profile(name: str | None = None, env: Mapping[str, str] | None = None, **overrides: object) -> Profile:
    """The active profile: file section, then environment, then explicit overrides (e.g. mox.file.set_auth)."""
    env = os.environ if env is None else env
    name = name or env.get(PROFILE_ENV) or "default"
    fields = {**read_profile_file(name), **_from_env(env), **{k: v for k, v in overrides.items() if v is not None}}
    try:
        profile = Profile(name=name, **fields)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise StorageError(f"storage profile {name!r} is invalid: {problems}") from None
    for secret in (profile.secret_access_key, profile.session_token):
        if secret is not None:
            register_secret(secret.get_secret_value())
    return profile
