"""Fixtures for recipe tests: the shipped MNIST subset in a private folder, and a JobEnvironment on tmp_path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from entry.environment import JobEnvironment

REPO = Path(__file__).resolve().parents[2]
SHIPPED_MNIST = REPO / "recipes" / "mnist" / "data"


@pytest.fixture
def mnist_dir(tmp_path: Path) -> Path:
    """A copy of the shipped 4,000/1,000 digits, as a job's synced data_dir would hold it."""
    target = tmp_path / "data"
    shutil.copytree(SHIPPED_MNIST, target)
    return target


@pytest.fixture
def job_env(tmp_path: Path, mnist_dir: Path) -> JobEnvironment:
    return JobEnvironment(
        job_id="test-job",
        work_dir=tmp_path,
        data_dir=mnist_dir,
        output_dir=tmp_path / "output",
        log_dir=tmp_path / "output" / "logs",
    )


def read_events(logdir: Path) -> object:
    """TensorBoard's own reader over every event file in `logdir` (the `tensorboard` package, test extra)."""
    accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator", reason="pip install tensorboard (launcher[test])"
    )
    events = accumulator.EventAccumulator(str(logdir), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    return events


def scalar_series(logdir: Path, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in read_events(logdir).Scalars(tag)]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List the JAX-backend recipe runs (tests/recipes/test_jax_backend.py) with their figures, for the CI log."""
    from tests.recipes.test_jax_backend import RUNS

    if not RUNS:
        return
    terminalreporter.section("JAX backend runs (KERAS_BACKEND=jax, no TensorFlow imported)")
    for name, report in RUNS:
        metrics = report["metrics"]
        terminalreporter.write_line(
            f"{name}: {int(metrics['steps'])} steps, loss {metrics['loss']:.4f}, "
            f"{metrics.get('ms_per_step', 0.0):.0f} ms/step, {report['devices']} device(s), "
            f"{report['seconds']:.1f} s in the trainer; modules: {', '.join(report['modules'])}"
        )
