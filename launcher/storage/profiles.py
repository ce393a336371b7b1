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

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

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


class Secret:
    """A secret text (pydantic's SecretStr contract): masked in repr and str, its value only on request."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


# Field checks. The profile is checked by hand, not by a pydantic model: building pydantic and one model costs
# ~0.2 s on 2 vCPU (bench/cli_startup.py), two thirds of the 0.3 s a `launcher data ls` may take. Each check
# takes what pydantic's lax mode takes for that type and says what it says;
# tests/storage/test_profile_checks.py holds them to a pydantic model of the same fields, input by input.
class _Invalid(ValueError):
    pass


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid("Input should be a valid string")
    return value


def _secret(value: object) -> Secret:
    return value if isinstance(value, Secret) else Secret(_text(value))


def _one_of(*choices: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        if value not in choices:
            listed = ", ".join(repr(c) for c in choices[:-1])
            raise _Invalid(f"Input should be {listed} or {choices[-1]!r}")
        return str(value)

    return check


def _list_version(value: object) -> str:
    # A profiles.toml may say `list_version = 1`.
    return _one_of("auto", "1", "2")(str(value) if isinstance(value, int) else value)


_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    if isinstance(value, int | str):
        raise _Invalid("Input should be a valid boolean, unable to interpret input")
    raise _Invalid("Input should be a valid boolean")


_INTEGER_TEXT = re.compile(r"\s*([+-]?\d+(?:_\d+)*)(?:\.0*)?\s*")


def _integer(low: int, high: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, int):
            number = int(value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise _Invalid("Input should be a finite number")
            if not value.is_integer():
                raise _Invalid("Input should be a valid integer, got a number with a fractional part")
            number = int(value)
        elif isinstance(value, str):
            found = _INTEGER_TEXT.fullmatch(value)
            if found is None:
                raise _Invalid("Input should be a valid integer, unable to parse string as an integer")
            number = int(found.group(1))
        else:
            raise _Invalid("Input should be a valid integer")
        if number < low:
            raise _Invalid(f"Input should be greater than or equal to {low}")
        if number > high:
            raise _Invalid(f"Input should be less than or equal to {high}")
        return number

    return check


def _positive(value: object) -> float:
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise _Invalid("Input should be a valid number, unable to parse string as a number") from None
    else:
        raise _Invalid("Input should be a valid number")
    if not number > 0:
        raise _Invalid("Input should be greater than 0")
    return number


def _endpoint(value: object) -> str | None:
    text = _text(value)
    if not text.strip():
        return None
    given = text.strip()
    text = given if "://" in given else "https://" + given
    text = text.rstrip("/")
    parts = urlsplit(text)
    if "@" in parts.netloc:
        # Never echo it: the part before '@' is a password. Mask it wherever else it may show up.
        register_secret(parts.netloc.rpartition("@")[0].partition(":")[2])
        raise _Invalid(
            "endpoint must not contain 'user:password@': give the keys as ACCESS_KEY_ID/SECRET_ACCESS_KEY "
            "or access_key_id/secret_access_key in the profile"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Invalid(f"endpoint must be http(s)://host[:port], got {given!r}")
    return text


def _setting(default: object, check: Callable[[object], object], optional: bool = True) -> Any:
    """A profile field: its default and the check a given value passes (None stays None where optional)."""
    return field(default=default, metadata={"check": check, "optional": optional})


@dataclass(frozen=True, kw_only=True)
class Profile:
    """Connection settings for one S3-compatible service, checked when made. Secrets never print."""

    name: str = _setting("default", _text, optional=False)
    endpoint: str | None = _setting(None, _endpoint)
    region: str | None = _setting(None, _text)
    addressing_style: str = _setting("auto", _one_of("auto", "virtual", "path"), optional=False)
    access_key_id: str | None = _setting(None, _text)
    secret_access_key: Secret | None = _setting(None, _secret)
    session_token: Secret | None = _setting(None, _secret)
    aws_profile: str | None = _setting(None, _text)  # a profile of ~/.aws/config for keys and region (else AWS_PROFILE)
    anonymous: bool = _setting(False, _flag, optional=False)  # unsigned requests (public buckets): never look for keys
    verify_ssl: bool = _setting(True, _flag, optional=False)
    ca_bundle: str | None = _setting(None, _text)  # PEM file of the CA(s) that signed the endpoint's certificate
    # "1": ListObjects with marker (forced); "auto": v2, else v1
    list_version: str = _setting("auto", _list_version, optional=False)
    max_attempts: int = _setting(6, _integer(1, 20), optional=False)
    connect_timeout_s: float = _setting(10.0, _positive, optional=False)
    read_timeout_s: float = _setting(120.0, _positive, optional=False)
    # Multipart uploads: "crc" (the store checks each part's CRC32C and keeps a whole-object one, ~0.15 s of CPU
    # per GiB; an error where it does not confirm it), "md5" (Content-MD5 per part, 1.75 s per GiB: for a store
    # that refuses checksum headers), "auto": a CRC where the store confirms it, else MD5 (checksums.py).
    checksum: str = _setting("auto", _one_of("auto", "crc", "md5"), optional=False)

    def __post_init__(self) -> None:
        problems = []
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is None and spec.metadata["optional"]:
                continue
            try:
                object.__setattr__(self, spec.name, spec.metadata["check"](value))
            except _Invalid as exc:
                problems.append(f"{spec.name}: {exc}")
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_settings(cls, settings: Mapping[str, object]) -> Profile:
        """A profile from a file section or the environment: every name must be a field."""
        known = {name: value for name, value in settings.items() if name in _FIELD_NAMES}
        problems = []
        try:
            profile = cls(**known)  # type: ignore[arg-type]
        except ValueError as exc:
            problems.append(str(exc))
        problems += [f"{name}: Extra inputs are not permitted" for name in settings if name not in known]
        if problems:
            raise ValueError("; ".join(problems))
        return profile

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


_FIELD_NAMES = frozenset(spec.name for spec in fields(Profile))


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
    for setting, names in (
        ("region", ("S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")),
        ("ca_bundle", ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE")),
        ("list_version", ("S3_LIST_VERSION",)),
        ("checksum", ("S3_CHECKSUM",)),
    ):
        for name in names:
            if env.get(name):
                found[setting] = env[name]
                break
    if "checksum" not in found and env.get("AWS_REQUEST_CHECKSUM_CALCULATION", "").lower() == "when_required":
        found["checksum"] = "md5"  # botocore's switch for stores that refuse its default CRC headers
    if env.get("S3_ADDRESSING_STYLE"):
        found["addressing_style"] = env["S3_ADDRESSING_STYLE"]
    if env.get("LAUNCHER_S3_MAX_ATTEMPTS"):
        found["max_attempts"] = env["LAUNCHER_S3_MAX_ATTEMPTS"]
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
    settings: dict[str, object] = {}
    for layer in reversed(layers):
        settings.update({k: v for k, v in layer.items() if k not in _CREDENTIAL_FIELDS})
    # Keys come as one set from the highest layer that names an access key (never one source's id with
    # another's secret or token).
    keyed = next((layer for layer in layers if layer.get("access_key_id")), {})
    settings.update({k: keyed[k] for k in _CREDENTIAL_FIELDS if keyed.get(k) is not None})
    try:
        profile = Profile.from_settings({"name": name, **settings})
    except ValueError as exc:
        raise StorageError(f"storage profile {name!r} is invalid: {exc}") from None
    if bool(profile.access_key_id) != bool(profile.secret_access_key):
        raise StorageError(
            f"storage profile {name!r} has an access key id without its secret access key (or the reverse): "
            "give both (ACCESS_KEY_ID and SECRET_ACCESS_KEY, or the profile's access_key_id/secret_access_key)"
        )
    for secret in (profile.secret_access_key, profile.session_token):
        if secret is not None:
            register_secret(secret.get_secret_value())
    return profile
