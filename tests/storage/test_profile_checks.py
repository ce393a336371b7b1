"""The profile's hand-written checks hold to pydantic's behaviour, input by input.

`launcher.storage.profiles.Profile` is checked without pydantic (pydantic and one model cost ~0.2 s of a data
command's 0.3 s, bench/cli_startup.py). `Reference` below is the pydantic model the profile was before: the
same fields, types and constraints. For each field and each input a profiles.toml or the environment can
give, both must accept it with the same value or both reject it, with the same message.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from launcher.storage.errors import StorageError
from launcher.storage.profiles import Profile, Secret, load_profile


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "default"
    endpoint: str | None = None
    region: str | None = None
    addressing_style: Literal["auto", "virtual", "path"] = "auto"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    aws_profile: str | None = None
    anonymous: bool = False
    verify_ssl: bool = True
    ca_bundle: str | None = None
    list_version: Literal["auto", "1", "2"] = "auto"
    max_attempts: int = Field(default=6, ge=1, le=20)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    read_timeout_s: float = Field(default=120.0, gt=0)
    checksum: Literal["auto", "crc", "md5"] = "auto"

    @field_validator("list_version", mode="before")
    @classmethod
    def _list_version_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value


TEXTS = ["eu-1", "", " x ", 5, 1.5, True, None, ["a"], {"a": 1}]
FLAGS = [True, False, 0, 1, 2, -1, 0.0, 1.0, 0.5, "true", "False", "YES", "no", "on", "off", "1", "0", "t", "f",
         "y", "n", " yes ", "maybe", "", None, [True]]
INTEGERS = [1, 6, 20, 0, 21, -3, True, False, 6.0, 6.5, "6", " 7 ", "+8", "-1", "6.0", "six", "", None, [6]]
FLOATS = [0.5, 10, "2.5", " 3 ", "inf", "nan", "-inf", 0, -1, "0", "abc", "", True, None, [1.0], float("nan")]
CASES: list[tuple[str, list[Any]]] = [
    ("region", TEXTS),
    ("access_key_id", TEXTS),
    ("aws_profile", TEXTS),
    ("ca_bundle", TEXTS),
    ("addressing_style", ["auto", "virtual", "path", "Path", "", 1, None]),
    ("list_version", ["auto", "1", "2", 1, 2, 3, "3", "v2", 1.0, True, None]),
    ("checksum", ["auto", "crc", "md5", "CRC", "crc32c", "", 1, None]),
    ("anonymous", FLAGS),
    ("verify_ssl", FLAGS),
    ("max_attempts", INTEGERS),
    ("connect_timeout_s", FLOATS),
    ("read_timeout_s", FLOATS),
    ("secret_access_key", ["s3cr3t", "", 5, None]),
    ("session_token", ["tok", 7, None]),
]


def _reference(settings: dict[str, Any]) -> tuple[bool, dict[str, Any] | list[str]]:
    try:
        model = Reference(**settings)
    except ValidationError as exc:
        return False, sorted(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    values = model.model_dump()
    for name in ("secret_access_key", "session_token"):
        secret = getattr(model, name)
        values[name] = None if secret is None else secret.get_secret_value()
    return True, values


def _ours(settings: dict[str, Any]) -> tuple[bool, dict[str, Any] | list[str]]:
    try:
        profile = Profile.from_settings(settings)
    except ValueError as exc:
        return False, sorted(str(exc).split("; "))
    values = dataclasses.asdict(profile)
    for name in ("secret_access_key", "session_token"):
        secret = getattr(profile, name)
        values[name] = None if secret is None else secret.get_secret_value()
    return True, values


def _same(ours: Any, reference: Any) -> bool:
    if isinstance(ours, float) and isinstance(reference, float) and math.isnan(ours):
        return math.isnan(reference)
    return bool(ours == reference and type(ours) is type(reference))


@pytest.mark.parametrize(("field", "value"), [(field, value) for field, values in CASES for value in values])
def test_each_field_accepts_and_rejects_what_pydantic_does(field: str, value: Any) -> None:
    accepted, ours = _ours({field: value})
    expected_accepted, expected = _reference({field: value})
    assert accepted == expected_accepted, (ours, expected)
    if not accepted:
        assert ours == expected
        return
    assert isinstance(ours, dict) and isinstance(expected, dict)
    assert _same(ours[field], expected[field]), (ours[field], expected[field])


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("https://obs.cn-north-4.myhuaweicloud.com", "https://obs.cn-north-4.myhuaweicloud.com"),
        ("obs.cn-north-4.myhuaweicloud.com/", "https://obs.cn-north-4.myhuaweicloud.com"),  # https by default
        (" http://127.0.0.1:8333 ", "http://127.0.0.1:8333"),
        ("  ", None),  # blank: no endpoint, the embedded store
        ("ftp://x", "endpoint: endpoint must be http(s)://host[:port], got 'ftp://x'"),
        ("https:///bucket", "endpoint: endpoint must be http(s)://host[:port], got 'https:///bucket'"),
        ("https://", "endpoint: endpoint must be http(s)://host[:port], got 'https://'"),
        (7, "endpoint: Input should be a valid string"),
    ],
)
def test_the_endpoint_is_normalised_or_refused_in_one_line(endpoint: Any, expected: str | None) -> None:
    accepted, ours = _ours({"endpoint": endpoint})
    if accepted:
        assert isinstance(ours, dict) and ours["endpoint"] == expected
    else:
        assert ours == [expected]


def test_several_problems_and_unknown_names_are_all_reported_on_one_line() -> None:
    settings = {"max_attempts": 0, "verify_ssl": "maybe", "bogus": 1, "endpiont": "x"}
    accepted, ours = _ours(settings)
    assert not accepted and ours == _reference(settings)[1]
    with pytest.raises(StorageError) as info:
        load_profile(env={"S3_ENDPOINT": "http://127.0.0.1:1", "LAUNCHER_S3_MAX_ATTEMPTS": "99"})
    assert str(info.value) == (
        "storage profile 'default' is invalid: max_attempts: Input should be less than or equal to 20"
    )


def test_secrets_never_show_in_repr_str_or_a_dump() -> None:
    profile = Profile(access_key_id="AK", secret_access_key="sk-hidden-1", session_token="tok-hidden-2")
    shown = repr(profile) + str(profile) + str(dataclasses.asdict(profile)) + f"{profile.secret_access_key}"
    assert "sk-hidden-1" not in shown and "tok-hidden-2" not in shown
    assert isinstance(profile.secret_access_key, Secret)
    assert profile.secret_access_key.get_secret_value() == "sk-hidden-1"
    assert profile == Profile(access_key_id="AK", secret_access_key="sk-hidden-1", session_token="tok-hidden-2")
    assert not Profile(secret_access_key="").secret_access_key  # empty counts as absent, as SecretStr('')
