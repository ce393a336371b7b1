"""Profiles: file sections, environment overrides, OBS-safe addressing, secrets kept out of text."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from launcher.redact import redact
from launcher.storage.errors import StorageError
from launcher.storage.profiles import load_profile


def test_no_endpoint_means_embedded() -> None:
    assert load_profile(env={}).embedded


def test_environment_names_used_by_modelarts(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "S3_ENDPOINT": "obs.cn-north-4.myhuaweicloud.com",
        "S3_USE_HTTPS": "0",
        "S3_VERIFY_SSL": "0",
        "ACCESS_KEY_ID": "AK123",
        "SECRET_ACCESS_KEY": "sk-very-secret-value",
    }
    profile = load_profile(env=env)
    assert profile.endpoint == "http://obs.cn-north-4.myhuaweicloud.com"
    assert profile.verify_ssl is False
    assert profile.signing_region == "cn-north-4"
    assert profile.use_path_style("my-bucket") is False  # public OBS endpoint: virtual-host
    assert "sk-very-secret-value" not in repr(profile)
    assert "sk-very-secret-value" not in str(dataclasses.asdict(profile)) + str(profile)
    assert redact("boom sk-very-secret-value") == "boom ***"


def test_aws_names_and_local_servers_use_path_style() -> None:
    profile = load_profile(
        env={"AWS_ENDPOINT_URL": "http://127.0.0.1:8333", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "bbbb"}
    )
    assert profile.use_path_style("bucket") is True
    assert profile.signing_region == "us-east-1"


def test_profile_file_and_env_precedence(launcher_home: Path) -> None:
    launcher_home.mkdir(parents=True, exist_ok=True)
    (launcher_home / "profiles.toml").write_text(
        '[default]\nendpoint = "https://obs.ap-southeast-1.myhuaweicloud.com"\naccess_key_id = "FILEAK"\n'
        'secret_access_key = "file-secret-1234"\n\n'
        '[minio]\nendpoint = "http://localhost:9000"\naddressing_style = "path"\nregion = "eu-1"\n'
    )
    default = load_profile(env={})
    assert default.access_key_id == "FILEAK"
    assert default.signing_region == "ap-southeast-1"
    assert load_profile(env={"ACCESS_KEY_ID": "ENVAK", "SECRET_ACCESS_KEY": "env-s-1"}).access_key_id == "ENVAK"
    named = load_profile(env={"LAUNCHER_STORAGE_PROFILE": "minio"})
    assert (named.endpoint, named.signing_region, named.use_path_style("b")) == ("http://localhost:9000", "eu-1", True)
    assert redact("file-secret-1234") == "***"  # loaded secrets are registered for redaction
    with pytest.raises(StorageError, match="profile 'nope' not found"):
        load_profile("nope", env={})


def test_bad_profile_is_a_one_line_user_error(launcher_home: Path) -> None:
    launcher_home.mkdir(parents=True, exist_ok=True)
    (launcher_home / "profiles.toml").write_text('[default]\nendpoint = "ftp://x"\nbogus = 1\n')
    with pytest.raises(StorageError) as info:
        load_profile(env={})
    assert "\n" not in str(info.value) and "endpoint" in str(info.value) and "bogus" in str(info.value)


def test_request_addressing_follows_the_profile() -> None:
    from launcher.storage.s3client import S3Client

    obs = S3Client(
        load_profile(
            env={
                "S3_ENDPOINT": "https://obs.cn-north-4.myhuaweicloud.com",
                "ACCESS_KEY_ID": "a",
                "SECRET_ACCESS_KEY": "bbbb",
            }
        )
    )
    assert obs.location("my-bucket", "a b/ü.txt") == ("my-bucket.obs.cn-north-4.myhuaweicloud.com", "/a%20b/%C3%BC.txt")
    assert obs.location("dotted.bucket", "k") == ("obs.cn-north-4.myhuaweicloud.com", "/dotted.bucket/k")
    local = S3Client(load_profile(env={"S3_ENDPOINT": "http://127.0.0.1:8333"}))
    assert local.location("bucket", "k/") == ("127.0.0.1:8333", "/bucket/k/")
    assert local.signer is None  # no credentials: anonymous requests, never a half-filled signature


# -- one order for credentials: arguments > environment > profiles.toml > botocore's chain ---------------


def _source_key(profile: object) -> str | None:
    from launcher.storage.credentials import credential_source, current

    source = credential_source(profile)  # type: ignore[arg-type]
    return None if source is None else current(source).access_key


def test_credential_order_env_then_profile_file_then_aws_files(
    launcher_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "aws-credentials"
    shared.write_text("[default]\naws_access_key_id = SHAREDAK\naws_secret_access_key = shared-secret-1\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    endpoint = {"S3_ENDPOINT": "https://obs.cn-north-4.myhuaweicloud.com"}
    assert _source_key(load_profile(env=endpoint)) == "SHAREDAK"
    launcher_home.mkdir(parents=True, exist_ok=True)
    (launcher_home / "profiles.toml").write_text(
        '[default]\naccess_key_id = "FILEAK"\nsecret_access_key = "file-secret-1"\n'
    )
    assert _source_key(load_profile(env=endpoint)) == "FILEAK"
    env_keys = {**endpoint, "AWS_ACCESS_KEY_ID": "AWSAK", "AWS_SECRET_ACCESS_KEY": "aws-secret-1"}
    assert _source_key(load_profile(env=env_keys)) == "AWSAK"
    modelarts = {**env_keys, "ACCESS_KEY_ID": "MAAK", "SECRET_ACCESS_KEY": "ma-secret-1", "SECURITY_TOKEN": "tok-1234"}
    profile = load_profile(env=modelarts)
    assert _source_key(profile) == "MAAK" and profile.session_token is not None
    assert profile.session_token.get_secret_value() == "tok-1234"
    assert _source_key(load_profile(env=modelarts, access_key_id="ARGAK", secret_access_key="arg-secret-1")) == "ARGAK"


def test_keys_are_never_mixed_across_sources(launcher_home: Path) -> None:
    launcher_home.mkdir(parents=True, exist_ok=True)
    (launcher_home / "profiles.toml").write_text('[default]\naccess_key_id = "FILEAK"\nsecret_access_key = "file-s-1"\n')
    with pytest.raises(StorageError, match="access key id without its secret"):
        load_profile(env={"ACCESS_KEY_ID": "ENVAK"})  # the file's secret must not be paired with it
    profile = load_profile(env={"AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "bbbb", "SECURITY_TOKEN": "tttt"})
    assert profile.session_token is None  # a ModelArts token does not ride along with AWS_* keys


def test_region_from_the_aws_config_of_the_chosen_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from launcher.storage.s3client import S3Client

    config = tmp_path / "aws-config"
    config.write_text("[profile eu]\nregion = eu-west-3\naws_access_key_id = EUAK\naws_secret_access_key = eu-secret-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    client = S3Client(load_profile(env={"S3_ENDPOINT": "https://s3.example.com", "AWS_PROFILE": "eu"}, aws_profile="eu"))
    assert client.region == "eu-west-3" and client.signer is not None
    # a region in the endpoint's host name is closer to the truth than the AWS config
    obs = S3Client(load_profile(env={"S3_ENDPOINT": "https://obs.cn-south-1.myhuaweicloud.com"}, aws_profile="eu"))
    assert obs.region == "cn-south-1"


def test_embedded_store_never_consults_the_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    from launcher import storage
    from launcher.storage import credentials

    def refuse(aws_profile: str | None) -> object:
        raise AssertionError("the embedded store must not look for credentials")

    monkeypatch.setattr(credentials, "_session", refuse)
    storage.write_bytes("obs://bucket/k.txt", b"local")
    assert storage.read_bytes("obs://bucket/k.txt") == b"local"


def test_endpoint_with_user_and_password_is_one_line_without_the_password() -> None:
    with pytest.raises(StorageError) as info:
        load_profile(env={"S3_ENDPOINT": "https://ak:pa55word-x@obs.cn-north-4.myhuaweicloud.com"})
    text = str(info.value)
    assert "\n" not in text and "pa55word-x" not in text and "user:password@" in text
    assert redact("S3_ENDPOINT=https://ak:pa55word-x@host") == "S3_ENDPOINT=https://ak:***@host"


def test_auto_addressing_is_virtual_for_named_endpoints_with_a_port() -> None:
    named = load_profile(env={"S3_ENDPOINT": "https://s3.internal.example:9000"})
    assert named.use_path_style("my-bucket") is False
    assert named.use_path_style("Not_DNS") is True
    assert load_profile(env={"S3_ENDPOINT": "http://minio:9000"}).use_path_style("b-1") is True  # dotless host
    assert load_profile(env={"S3_ENDPOINT": "http://[::1]:9000"}).use_path_style("b-1") is True
