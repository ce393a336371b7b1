"""Fixtures for the remote backends: jobs planned from the toy recipe, and fake ModelArts / Kubernetes servers
on free loopback ports (one per test), with the account variables pointing at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from launcher.jobspec import JobSpec, plan_job
from tests.backends.fake_kube import FakeKube
from tests.backends.fake_modelarts import FakeModelArts

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TOY = FIXTURES / "toy_counter.yaml"

AK = "AKTESTLAUNCHER0001"
SK = "Sk-For-Tests-Never-Printed-7f3a9c"
PROJECT = "0b5a1c2d3e4f5a6b7c8d9e0f1a2b3c4d"
REGION = "cn-north-4"
CLOUD_ENV = (
    "HUAWEICLOUD_SDK_AK",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_SDK_SECURITY_TOKEN",
    "HUAWEICLOUD_SDK_PROJECT_ID",
    "HUAWEICLOUD_SDK_REGION",
    "KUBECONFIG",
    "LAUNCHER_STORAGE_PROFILE",
    "S3_REGION",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


@pytest.fixture(autouse=True)
def no_cloud_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLOUD_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_job() -> Callable[..., JobSpec]:
    def make(backend: str, recipe: Path = TOY, overrides: dict[str, Any] | None = None, **resources: Any) -> JobSpec:
        return plan_job(recipe, overrides or {}, resources={"backend": backend, **resources})

    return make


@pytest.fixture
def modelarts(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeModelArts]:
    server = FakeModelArts(AK, SK, PROJECT).start()
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", AK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", SK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", PROJECT)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKube]:
    server = FakeKube(token="kube-token-for-tests-5e1d").start()
    config = tmp_path / "kubeconfig"
    config.write_text(server.kubeconfig())
    monkeypatch.setenv("KUBECONFIG", str(config))
    try:
        yield server
    finally:
        server.stop()
