"""Profiles: file sections, environment overrides, OBS-safe addressing, secrets kept out of text."""

from __future__ import annotations

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
    assert "sk-very-secret-value" not in str(profile.model_dump())
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
    assert load_profile(env={"ACCESS_KEY_ID": "ENVAK"}).access_key_id == "ENVAK"
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
