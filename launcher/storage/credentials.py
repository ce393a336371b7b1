"""Which keys sign a request: one documented order, the tail of it being botocore's own credential chain.

    1. explicit arguments (mox.file.set_auth, load_profile(**overrides))
    2. the environment: ModelArts/moxing names ACCESS_KEY_ID / SECRET_ACCESS_KEY / SECURITY_TOKEN
       (or S3_SECURITY_TOKEN, SESSION_TOKEN), then AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN
    3. LAUNCHER_HOME/profiles.toml, the section chosen by LAUNCHER_STORAGE_PROFILE
    4. botocore's chain, as `aws` and boto3 use it: the shared ~/.aws/credentials and ~/.aws/config of
       AWS_PROFILE (or the profile's `aws_profile`), credential_process, web identity (AWS_WEB_IDENTITY_TOKEN_FILE),
       the container endpoint, then the instance metadata service (IMDS).

Keys are taken as a set from the first source that has an access key: a key id is never paired with
another source's secret. Steps 1-3 are resolved in profiles.py (no botocore import: a command with static
keys starts fast); step 4 runs only for a configured endpoint without keys, once per process, and an
embedded (no-endpoint) profile never reaches it.

The signer asks `get_frozen_credentials()` before every request, so botocore's refreshable credentials
(credential_process, web identity, container, IMDS) renew themselves before they expire, mid-sync too.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from launcher.redact import register_secret
from launcher.storage.errors import CredentialsError

if TYPE_CHECKING:
    from launcher.storage.profiles import Profile

# IMDS is the chain's last, slowest step (a connect timeout where there is no instance): keep it short.
_METADATA_TIMEOUT_S = 1.0
_METADATA_ATTEMPTS = 1


@dataclass(frozen=True, slots=True)
class FrozenCredentials:
    """One consistent (key, secret, token) snapshot, shaped like botocore's ReadOnlyCredentials."""

    access_key: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:  # never show the secret or the token
        return f"FrozenCredentials(access_key={self.access_key!r})"


class CredentialSource(Protocol):
    """What the signer needs: botocore's Credentials/RefreshableCredentials, or StaticCredentials."""

    def get_frozen_credentials(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class StaticCredentials:
    """Keys given directly (arguments, environment, profiles.toml): nothing to refresh."""

    frozen: FrozenCredentials

    def get_frozen_credentials(self) -> FrozenCredentials:
        return self.frozen

    def __repr__(self) -> str:
        return f"StaticCredentials(access_key={self.frozen.access_key!r})"


_sessions: dict[tuple[object, ...], Any] = {}
_lock = threading.Lock()


def _cache_key(aws_profile: str | None) -> tuple[object, ...]:
    # Everything the chain reads from the environment: a changed variable means a fresh resolution.
    return (aws_profile, tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))))


def _session(aws_profile: str | None) -> Any:
    """One botocore session per process and setting (it caches the credentials it resolves)."""
    key = _cache_key(aws_profile)
    with _lock:
        session = _sessions.get(key)
        if session is None:
            import botocore.session

            session = botocore.session.Session(profile=aws_profile)
            session.set_config_variable("metadata_service_timeout", _METADATA_TIMEOUT_S)
            session.set_config_variable("metadata_service_num_attempts", _METADATA_ATTEMPTS)
            _sessions[key] = session
    return session


def _chain_call(aws_profile: str | None, what: str) -> Any:
    """Run one botocore look-up; its failures become one-line CredentialsErrors."""
    import botocore.exceptions

    session = _session(aws_profile)
    try:
        if what == "region":
            return session.get_config_variable("region")
        credentials = session.get_credentials()
        if credentials is not None:
            _register(credentials.get_frozen_credentials())  # may run credential_process: inside the try
        return credentials
    except botocore.exceptions.ProfileNotFound:
        where = os.environ.get("AWS_CONFIG_FILE", "~/.aws/config")
        raise CredentialsError(
            f"AWS profile {aws_profile or os.environ.get('AWS_PROFILE')!r} not found in {where} "
            "or the shared credentials file"
        ) from None
    except (botocore.exceptions.BotoCoreError, RuntimeError) as exc:
        # e.g. a credential_process that failed, printed something that is not credentials JSON, or expired keys.
        raise CredentialsError(f"cannot get storage credentials from the AWS chain: {exc}") from None


def from_botocore_chain(aws_profile: str | None) -> CredentialSource | None:
    """Credentials from botocore's chain (refreshable ones stay refreshable), or None: no keys anywhere."""
    return _chain_call(aws_profile, "credentials")


def _register(frozen: Any) -> None:
    for value in (frozen.secret_key, frozen.token):
        if value:
            register_secret(value)


def static_source(profile: Profile) -> StaticCredentials | None:
    if not (profile.access_key_id and profile.secret_access_key):
        return None
    token = profile.session_token.get_secret_value() if profile.session_token else None
    return StaticCredentials(FrozenCredentials(profile.access_key_id, profile.secret_access_key.get_secret_value(), token))


def credential_source(profile: Profile) -> CredentialSource | None:
    """The source that signs requests for `profile`: its own keys, else botocore's chain, else None (anonymous)."""
    source = static_source(profile)
    if source is not None or profile.anonymous:
        return source
    return from_botocore_chain(profile.aws_profile)


def chain_region(profile: Profile) -> str | None:
    """The region the AWS config gives for the profile, consulted only when nothing closer names one."""
    if static_source(profile) is not None and profile.aws_profile is None and "AWS_PROFILE" not in os.environ:
        return None  # keys given directly and no AWS profile asked for: do not pay for reading AWS files
    region = _chain_call(profile.aws_profile, "region")
    return str(region) if region else None


def current(source: CredentialSource) -> FrozenCredentials:
    """A consistent snapshot now (refreshing when botocore says it is due); new secrets join the redaction set."""
    if isinstance(source, StaticCredentials):
        return source.frozen
    try:
        frozen = source.get_frozen_credentials()
    except Exception as exc:  # botocore raises its own errors and RuntimeError("... still expired")
        raise CredentialsError(f"cannot refresh the storage credentials from the AWS chain: {exc}") from None
    if not isinstance(frozen, FrozenCredentials):
        _register(frozen)
        frozen = FrozenCredentials(frozen.access_key, frozen.secret_key, frozen.token or None)
    return frozen
