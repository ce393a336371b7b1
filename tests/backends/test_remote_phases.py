"""Every documented phase of a ModelArts v2 training job and of a Volcano Job, read as one of our states."""

from __future__ import annotations

import pytest
from huaweicloudsdkmodelarts.v1 import ShowTrainingJobDetailsResponse, Status, TaskStatuses
from kubernetes.client import (
    V1ContainerState,
    V1ContainerStateTerminated,
    V1ContainerStatus,
    V1ObjectMeta,
    V1Pod,
    V1PodStatus,
)

from launcher.backends.modelarts import backend as modelarts
from launcher.backends.volcano import backend as volcano
from launcher.backends.volcano.schema import phases as volcano_crd_phases
from launcher.jobs import JobState

# status.phase values the v2 API documents (huaweicloudsdkmodelarts Status.phase).
MODELARTS_PHASES = ["Creating", "Pending", "Running", "Failed", "Completed", "Terminating", "Terminated", "Abnormal"]


def details(
    phase: str, secondary: str = "", exit_code: int | None = None, stopped: bool = False
) -> ShowTrainingJobDetailsResponse:
    tasks = [TaskStatuses(task="worker-0", exit_code=exit_code, message="oom")] if exit_code is not None else None
    status = Status(
        phase=phase, secondary_phase=secondary, start_time=1_700_000_000_000, duration=60_000, task_statuses=tasks
    )
    return ShowTrainingJobDetailsResponse(status=status)


def test_every_documented_modelarts_phase_is_mapped() -> None:
    assert sorted(p.lower() for p in MODELARTS_PHASES) == sorted(modelarts.PHASES)


@pytest.mark.parametrize(
    ("phase", "secondary", "exit_code", "stopped", "expected"),
    [
        ("Creating", "Creating", None, False, JobState.PENDING),
        ("Pending", "Queuing", None, False, JobState.PENDING),
        ("Running", "Running", None, False, JobState.RUNNING),
        ("Terminating", "Terminating", None, True, None),
        ("Completed", "Completed", 0, False, JobState.SUCCEEDED),
        ("Failed", "Failed", 137, False, JobState.FAILED),
        ("Abnormal", "Lost", None, False, JobState.FAILED),
        ("Creating", "CreateFailed", None, False, JobState.FAILED),
        ("Terminated", "Terminated", None, True, JobState.STOPPED),
        ("Terminated", "Terminated", None, False, JobState.STOPPED),
    ],
)
def test_modelarts_phase(phase, secondary, exit_code, stopped, expected) -> None:  # noqa: ANN001
    seen = modelarts.remote_status(details(phase, secondary, exit_code), stop_requested=stopped)
    assert (seen.state if seen else None) is expected
    if expected is JobState.FAILED and exit_code:
        assert seen is not None and seen.exit_code == exit_code and seen.reason == "worker-0: oom"
    if expected is JobState.SUCCEEDED:
        assert seen is not None and seen.exit_code == 0 and seen.ended_at == seen.started_at + 60  # type: ignore[operator]
    if expected is JobState.STOPPED:
        assert seen is not None and seen.reason == ("stopped" if stopped else "terminated on ModelArts (Terminated)")


def test_every_volcano_crd_phase_is_mapped() -> None:
    assert sorted(volcano_crd_phases()) == sorted(volcano.PHASES)


def pod(exit_code: int | None) -> V1Pod:
    state = (
        V1ContainerState(terminated=V1ContainerStateTerminated(exit_code=exit_code, reason="OOMKilled"))
        if exit_code
        else None
    )
    status = V1ContainerStatus(name="trainer", ready=False, restart_count=0, image="i", image_id="", state=state)
    return V1Pod(metadata=V1ObjectMeta(name="job-worker-0"), status=V1PodStatus(container_statuses=[status]))


@pytest.mark.parametrize(
    ("phase", "stopped", "expected", "reason"),
    [
        ("Pending", False, JobState.PENDING, ""),
        ("Running", False, JobState.RUNNING, ""),
        ("Restarting", False, JobState.RUNNING, ""),
        ("Completing", False, JobState.RUNNING, ""),
        ("Terminating", True, None, ""),
        ("Aborting", False, None, ""),
        ("Completed", False, JobState.SUCCEEDED, ""),
        ("Failed", False, JobState.FAILED, "job-worker-0: OOMKilled (exit 137)"),
        ("Terminated", True, JobState.STOPPED, "stopped"),
        ("Aborted", False, JobState.FAILED, "job-worker-0: OOMKilled (exit 137)"),
    ],
)
def test_volcano_phase(phase, stopped, expected, reason) -> None:  # noqa: ANN001
    job = {"metadata": {"name": "job"}, "status": {"state": {"phase": phase}, "retryCount": 0}}
    seen = volcano.remote_status(job, [pod(137 if expected is JobState.FAILED else None)], stop_requested=stopped)
    assert (seen.state if seen else None) is expected
    if seen is not None:
        assert seen.reason.startswith(reason)
