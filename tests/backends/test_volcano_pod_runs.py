"""The rendered pod, run here: its init container's command fetches the uploaded code, its trainer command runs
the entry once per card; stopped (SIGTERM, as on eviction) and started again (Volcano's RestartJob), the job
resumes from the checkpoint it pushed. Storage is the embedded store, standing in for the cluster's endpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from launcher import storage
from launcher.backends import get_backend
from launcher.backends.codeupload import upload_code
from launcher.backends.volcano.backend import VolcanoRequest
from launcher.jobs import JobStore
from launcher.paths import objects_root
from tests.backends.conftest import FIXTURES

REPO = Path(__file__).resolve().parents[2]
LOCAL_ONLY = ("S3_ENDPOINT", "S3_REGION", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY")  # the cluster's; here: embedded store


def container_env(container: dict, work: Path) -> dict[str, str]:
    """The container's environment as the kubelet would give it, with the downward API values faked."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VC_", "RANK_", "LAUNCHER_WORK"))}
    fields = {"status.hostIP": "10.0.0.1", "status.podIP": "172.16.0.9"}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "fieldRef" in item.get("valueFrom", {}):
            env[item["name"]] = fields[item["valueFrom"]["fieldRef"]["fieldPath"]]
    for name in LOCAL_ONLY:
        env.pop(name, None)
    return env | {"VC_TASK_INDEX": "0", "LAUNCHER_WORK_DIR": str(work), "PYTHONPATH": ""}


def local(command: list[str]) -> list[str]:
    return [sys.executable if part == "python" else part for part in command]


def test_rendered_pod_runs_stops_and_resumes(make_job, tmp_path: Path) -> None:  # noqa: ANN001
    job = make_job("volcano", count=2, image="registry.local/launcher:1", overrides={"steps": 40, "step_seconds": 0.1})
    storage.sync(str(FIXTURES / "toydata"), job.data_url)
    request = get_backend("volcano", JobStore(), {"storage_endpoint": "http://minio.storage.svc:9000"}).render(job)
    assert isinstance(request, VolcanoRequest) and request.code is not None
    upload_code(request.code)
    pod = request.manifests[-1]["spec"]["tasks"][0]["template"]["spec"]
    (fetch,) = pod["initContainers"]
    (trainer,) = pod["containers"]
    code_dir = tmp_path / "code"
    fetch_command = [str(code_dir) if part == trainer["workingDir"] else part for part in local(fetch["command"])]
    fetched = subprocess.run(
        fetch_command, cwd=REPO, env=container_env(fetch, tmp_path), capture_output=True, text=True
    )
    assert fetched.returncode == 0, fetched.stderr
    assert (code_dir / "entry" / "modelarts_entry_acc.py").is_file() and (code_dir / "toy_counter.yaml").is_file()

    env = container_env(trainer, tmp_path / "cache" / job.id)
    first = subprocess.Popen(local(trainer["command"]), cwd=code_dir, env=env, stdout=subprocess.PIPE, text=True)
    assert first.stdout is not None
    seen = []
    for line in first.stdout:
        seen.append(line)
        if "[rank 0] toy: step 3" in line:
            first.send_signal(signal.SIGTERM)  # eviction: every rank pushes its outputs and exits
            break
    rest, _ = first.communicate(timeout=60)
    assert first.returncode == 143, "".join(seen) + rest
    checkpoints = objects_root() / "toy-bucket" / "jobs" / job.id / "checkpoints"
    assert checkpoints.is_dir()

    second = subprocess.run(
        local(trainer["command"]), cwd=code_dir, env=env, capture_output=True, text=True, timeout=120
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "[rank 0] toy: resumed from step" in second.stdout and "[rank 1] toy: step 40" in second.stdout
    outputs = objects_root() / "toy-bucket" / "jobs" / job.id
    assert (outputs / "seen-rank-0.json").is_file() and (outputs / "seen-rank-1.json").is_file()
