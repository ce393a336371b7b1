"""Where object-store URLs go: named profiles from LAUNCHER_HOME/profiles.toml, overridden by the environment.

    # LAUNCHER_HOME/profiles.toml  (choose one with LAUNCHER_STORAGE_PROFILE; default "default")
    [default]
    endpoint = "https://obs.cn-north-4.myhuaweicloud.com"
    access_key_id = "..."
    secret_access_key = "..."

Each setting is taken from the first of: explicit arguments (mox.file.set_auth), the environment (what
ModelArts and moxing scripts set, then the AWS names), the profiles.toml section, then, for credentials and
region only, botocore's chain (credentials.py). Environment names: S3_ENDPOINT (with or without scheme) /
AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, S3_USE_HTTPS, S3_VERIFY_SSL, S3_ADDRESSING_STYLE, S3_LIST_VERSION,
S3_REGION / AWS_REGION / AWS_DEFAULT_REGION, AWS_CA_BUNDLE / REQUESTS_CA_BUNDLE, and the keys as one set:
ACCESS_KEY_ID / SECRET_ACCESS_KEY / SECURITY_TOKEN (S3_SECURITY_TOKEN, SESSION_TOKEN), else AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.
With no endpoint at all, obs:// and s3:// use the embedded store under LAUNCHER_HOME/objects (no credentials read).
"""

from __future__ import annotations

import os
import re
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
_DNS_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_CREDENTIAL_FIELDS = ("access_key_id", "secret_access_key", "session_token")
# Key sets in the environment, first found wins whole: (key id, secret, token names).
_ENV_KEY_SETS = (
    ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY", ("SECURITY_TOKEN", "S3_SECURITY_TOKEN", "SESSION_TOKEN")),
    ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")),
)


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
    aws_profile: str | None = None  # a profile of ~/.aws/config to take keys and region from (else AWS_PROFILE)
    anonymous: bool = False  # unsigned requests (public buckets): never look for keys
    verify_ssl: bool = True
    ca_bundle: str | None = None  # PEM file of the CA(s) that signed the endpoint's certificate
    list_version: Literal["auto", "1", "2"] = "auto"  # "1": ListObjects with marker (forced); "auto": v2, else v1
    max_attempts: int = Field(default=6, ge=1, le=20)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    read_timeout_s: float = Field(default=120.0, gt=0)

    @field_validator("list_version", mode="before")
    @classmethod
    def _list_version_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    @field_validator("endpoint")
    @classmethod
    def _endpoint_has_scheme(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if "://" not in value:
            value = "https://" + value
        parts = urlsplit(value)
        if "@" in parts.netloc:
            # Never echo it: the part before '@' is a password. Mask it wherever else it may show up.
            register_secret(parts.netloc.rpartition("@")[0].partition(":")[2])
            raise ValueError(
                "endpoint must not contain 'user:password@': give the keys as ACCESS_KEY_ID/SECRET_ACCESS_KEY "
                "or access_key_id/secret_access_key in the profile"
            )
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
    def endpoint_region(self) -> str | None:
        """The region named by a public OBS/AWS endpoint's host (obs.cn-north-4.myhuaweicloud.com)."""
        found = _REGION_IN_HOST.match(urlsplit(self.endpoint or "").hostname or "")
        return found.group(1) if found else None

    @property
    def signing_region(self) -> str:
        """The region without consulting AWS files (those come in through credentials.chain_region)."""
        return self.region or self.endpoint_region or "us-east-1"

    def use_path_style(self, bucket: str) -> bool:
        """`auto` (as botocore): virtual-host for DNS-compatible buckets, except on IP, localhost or dotless hosts."""
        if self.addressing_style != "auto":
            return self.addressing_style == "path"
        hostname = urlsplit(self.endpoint or "").hostname or ""
        if hostname == "localhost" or "." not in hostname or _is_ip(hostname):
            return True
        # A bucket that is not a plain DNS label cannot be a host name (dots also break TLS wildcards).
        return not _DNS_BUCKET.fullmatch(bucket)


def _is_ip(host: str) -> bool:
    import ipaddress  # only endpoints in `auto` addressing ask: not on every command's start-up

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
    for key_name, secret_name, token_names in _ENV_KEY_SETS:
        if env.get(key_name):
            found["access_key_id"] = env[key_name]
            found["secret_access_key"] = env.get(secret_name) or None
            found["session_token"] = next((env[n] for n in token_names if env.get(n)), None)
            break
    for field, names in (
        ("region", ("S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")),
        ("ca_bundle", ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE")),
        ("list_version", ("S3_LIST_VERSION",)),
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
    import tomllib  # only when there is a profiles file: most data commands run from the environment alone

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
    layers = [{k: v for k, v in overrides.items() if v is not None}, _from_env(env), read_profile_file(name)]
    fields: dict[str, object] = {}
    for layer in reversed(layers):
        fields.update({k: v for k, v in layer.items() if k not in _CREDENTIAL_FIELDS})
    # Keys come as one set from the highest layer that names an access key (never one source's id with
    # another's secret or token).
    keyed = next((layer for layer in layers if layer.get("access_key_id")), {})
    fields.update({k: keyed[k] for k in _CREDENTIAL_FIELDS if keyed.get(k) is not None})
    try:
        profile = Profile(name=name, **fields)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise StorageError(f"storage profile {name!r} is invalid: {problems}") from None
    if bool(profile.access_key_id) != bool(profile.secret_access_key):
        raise StorageError(
            f"storage profile {name!r} has an access key id without its secret access key (or the reverse): "
            "give both (ACCESS_KEY_ID and SECRET_ACCESS_KEY, or the profile's access_key_id/secret_access_key)"
        )
    for secret in (profile.secret_access_key, profile.session_token):
        if secret is not None:
            register_secret(secret.get_secret_value())
    return profile
