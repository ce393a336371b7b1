"""The "required" switch: where SeaweedFS or dockerd cannot start, their tests skip, or fail when CI requires them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import REQUIRE_DOCKER, REQUIRE_SEAWEEDFS, unavailable

REPO = Path(__file__).resolve().parents[1]

# A test on a machine without `weed`, as the shared `seaweed` fixture sees it.
NO_WEED_TEST = """
import tests.services as services

def test_needs_seaweedfs(monkeypatch):
    monkeypatch.setattr(services, "find_weed", lambda: None)
    services.require_weed()
"""


def test_unavailable_skips_unless_its_switch_requires_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_DOCKER, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no dockerd here"):
        unavailable("no dockerd here", REQUIRE_DOCKER)
    monkeypatch.setenv(REQUIRE_DOCKER, "1")
    with pytest.raises(pytest.fail.Exception, match=f"no dockerd here; {REQUIRE_DOCKER}=1 requires it"):
        unavailable("no dockerd here", REQUIRE_DOCKER)


@pytest.mark.parametrize(("required", "outcome"), [(False, "1 skipped"), (True, "1 failed")])
def test_a_session_without_weed_fails_when_ci_requires_it(tmp_path: Path, required: bool, outcome: str) -> None:
    test_file = tmp_path / "test_no_weed.py"
    test_file.write_text(NO_WEED_TEST)
    env = {k: v for k, v in os.environ.items() if k != REQUIRE_SEAWEEDFS}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    if required:
        env[REQUIRE_SEAWEEDFS] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(test_file)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert outcome in result.stdout, result.stdout[-2000:]
    assert result.returncode == (1 if required else 0)
    if required:
        assert "SeaweedFS `weed` not installed" in result.stdout and f"{REQUIRE_SEAWEEDFS}=1 requires it" in result.stdout


def test_ci_runs_the_suite_with_both_switches_on() -> None:
    """.ci/run sets CI=true, and scripts/test.sh turns both switches on under CI (run here up to pytest)."""
    assert "export CI=true" in (REPO / ".ci" / "run").read_text()
    script = (REPO / "scripts" / "test.sh").read_text()
    block = script[script.index('if [ "${CI:-}" = "true" ]') :]
    block = block[: block.index("\nfi\n") + 4]
    out = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{block}env"], env={"CI": "true", "PATH": os.environ["PATH"]},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"{REQUIRE_SEAWEEDFS}=1" in out.splitlines() and f"{REQUIRE_DOCKER}=1" in out.splitlines()
