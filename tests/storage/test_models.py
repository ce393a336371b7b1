"""The storage layer's settings and reports: plain dataclasses that keep what their pydantic models promised.

TransferConfig refuses what its pydantic model refused (`Reference` below: the model it was), value by value;
the options and reports keep their defaults, are independent per instance, and the report's summary reads as
before.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from launcher.storage.models import MiB, SyncOptions, SyncReport, TransferConfig


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)  # made by code: typed values only

    concurrency: int = Field(default=64, ge=1, le=1024)
    multipart_threshold: int = Field(default=16 * MiB, ge=5 * MiB)
    part_size: int = Field(default=16 * MiB, ge=5 * MiB, le=5 * 1024 * MiB)
    parts_in_flight: int = Field(default=8, ge=1, le=256)
    abandoned_upload_age_s: float = Field(default=24 * 3600.0, ge=0)


VALUES: dict[str, list[Any]] = {
    "concurrency": [1, 64, 1024, 0, 1025, -1, "8", None, True],
    "multipart_threshold": [5 * MiB, 5 * MiB - 1, 1 << 40, 0, "x"],
    "part_size": [5 * MiB, 5 * 1024 * MiB, 5 * 1024 * MiB + 1, 5 * MiB - 1],
    "parts_in_flight": [1, 256, 257, 0],
    "abandoned_upload_age_s": [0, 0.0, 3600, -0.5, "1", None],
}


def _accepted(make: Any, name: str, value: Any) -> bool:
    try:
        made = make(**{name: value})
    except (ValidationError, ValueError, TypeError):
        return False
    assert getattr(made, name) == value
    return True


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, values in VALUES.items() for v in values])
def test_transfer_config_refuses_what_its_model_refused(name: str, value: Any) -> None:
    assert _accepted(TransferConfig, name, value) == _accepted(Reference, name, value)


def test_defaults_are_the_models_and_unknown_settings_are_refused() -> None:
    assert dataclasses.asdict(TransferConfig()) == Reference().model_dump()
    with pytest.raises(TypeError):
        TransferConfig(concurency=8)  # type: ignore[call-arg]
    with pytest.raises(dataclasses.FrozenInstanceError):
        TransferConfig().concurrency = 2  # type: ignore[misc]
    with pytest.raises(ValueError, match="concurrency: 0 is outside 1..1024; parts_in_flight: 0"):
        TransferConfig(concurrency=0, parts_in_flight=0)


def test_options_and_reports_do_not_share_their_lists() -> None:
    first, second = SyncOptions(), SyncOptions()
    first.include.append("*.txt")
    assert second.include == [] and second.transfer == TransferConfig()
    report = SyncReport(source="a", destination="b")
    report.planned.append("copy x")
    assert SyncReport(source="a", destination="b").planned == []


def test_the_summary_reads_as_before() -> None:
    report = SyncReport(source="/d", destination="obs://b/d", copied=3, skipped=1, bytes=3 * MiB, seconds=2.0)
    assert report.ok and report.summary() == (
        "/d -> obs://b/d: copied 3 (3.0 MiB), skipped 1, deleted 0, failed 0 in 2.0s (1.5 MiB/s, 2 files/s)"
    )
    dry = SyncReport(source="/d", destination="obs://b/d", copied=2, deleted=1, dry_run=True, failed=1)
    assert not dry.ok and "would copy 2" in dry.summary() and "would delete 1" in dry.summary()
