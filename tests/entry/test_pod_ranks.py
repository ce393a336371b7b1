"""What runs inside a Volcano pod (entry/pod_ranks.py): one entry process per card, with ranks from the Ascend rank
table (once the device plugin has written it) or from VC_TASK_INDEX; fail fast; the pod exits with the first failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from entry.ranktable import Device, RankTable, Server
from entry.pod_ranks import RankSetupError, ascend_ranks, indexed_ranks

REPO = Path(__file__).resolve().parents[2]
# A stand-in for the entry: prints what it was given, so the test sees each process's environment.
SHOWN = ("RANK_ID", "DEVICE_ID", "RANK_SIZE", "LAUNCHER_LOCAL_RANK", "CUDA_VISIBLE_DEVICES")
SHOW = f"import json, os; print(json.dumps({{k: os.environ.get(k) for k in {SHOWN!r}}}))"


def run_pod(env: dict[str, str], code: str = SHOW, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VC_", "LAUNCHER_", "RANK_"))}
    return subprocess.run(
        [sys.executable, "-m", "entry.pod_ranks", "--", sys.executable, "-c", code],
        cwd=REPO,
        env={**base, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def shown(stdout: str) -> dict[str, dict[str, str | None]]:
    """Each process's printed environment, keyed by its RANK_ID (lines may carry a '[rank N] ' prefix)."""
    found = {}
    for line in stdout.splitlines():
        document = json.loads(line.split("] ", 1)[-1])
        found[document["RANK_ID"]] = document
    return found


def two_server_table(status: str = "completed") -> dict:
    table = RankTable(
        server_count=2,
        server_list=[
            Server(
                server_id="10.0.0.1",
                device=[Device(device_id=d, device_ip=f"192.168.0.{d}", rank_id=d) for d in (0, 1)],
            ),
            Server(
                server_id="10.0.0.2",
                device=[Device(device_id=d, device_ip=f"192.168.1.{d}", rank_id=2 + d) for d in (0, 1)],
            ),
        ],
    )
    return {**json.loads(table.to_json()), "status": status}


def test_gpu_pod_ranks_follow_the_task_index() -> None:
    result = run_pod(
        {"LAUNCHER_DEVICE": "gpu", "LAUNCHER_LOCAL_SIZE": "2", "LAUNCHER_NODES": "2", "VC_TASK_INDEX": "1"}
    )
    assert result.returncode == 0, result.stderr
    ranks = shown(result.stdout)
    assert ranks == {
        "2": {
            "RANK_ID": "2",
            "DEVICE_ID": "0",
            "RANK_SIZE": "4",
            "LAUNCHER_LOCAL_RANK": "0",
            "CUDA_VISIBLE_DEVICES": "0",
        },
        "3": {
            "RANK_ID": "3",
            "DEVICE_ID": "1",
            "RANK_SIZE": "4",
            "LAUNCHER_LOCAL_RANK": "1",
            "CUDA_VISIBLE_DEVICES": "1",
        },
    }
    assert all(line.startswith(("[rank 2] ", "[rank 3] ")) for line in result.stdout.splitlines())


def test_multi_node_coordination_env() -> None:
    common, per_rank = indexed_ranks(
        {"VC_TASK_INDEX": "1", "VC_WORKER_HOSTS": "job-worker-0.job,job-worker-1.job"}, "gpu", 1, 2
    )
    assert common == {"RANK_SIZE": "2", "JAX_COORDINATOR_ADDRESS": "job-worker-0.job:29400", "JAX_NUM_PROCESSES": "2"}
    (rank,) = per_rank
    assert rank["JAX_PROCESS_ID"] == "1"
    assert json.loads(rank["TF_CONFIG"]) == {
        "cluster": {"worker": ["job-worker-0.job:29401", "job-worker-1.job:29401"]},
        "task": {"type": "worker", "index": 1},
    }


def test_ascend_pod_waits_for_the_rank_table_then_takes_its_server(tmp_path: Path) -> None:
    table = tmp_path / "hccl.json"
    table.write_text(json.dumps({"status": "initializing"}))

    def device_plugin_writes_it() -> None:
        time.sleep(0.5)
        table.write_text(json.dumps(two_server_table()))

    writer = threading.Thread(target=device_plugin_writes_it)
    writer.start()
    env = {
        "LAUNCHER_DEVICE": "ascend",
        "LAUNCHER_LOCAL_SIZE": "2",
        "RANK_TABLE_FILE": str(table),
        "LAUNCHER_HOST_IP": "10.0.0.2",
        "LAUNCHER_POD_IP": "172.16.3.4",
    }
    result = run_pod(env)
    writer.join()
    assert result.returncode == 0, result.stderr
    ranks = shown(result.stdout)
    assert {r: (v["DEVICE_ID"], v["RANK_SIZE"], v["LAUNCHER_LOCAL_RANK"]) for r, v in ranks.items()} == {
        "2": ("0", "4", "0"),
        "3": ("1", "4", "1"),
    }


def test_ascend_pod_not_in_the_table_or_table_never_ready(tmp_path: Path) -> None:
    table = RankTable.model_validate(two_server_table())
    with pytest.raises(
        RankSetupError, match=r"this pod \(10.9.9.9\) is not one server of the rank table \(10.0.0.1, 10.0.0.2\)"
    ):
        ascend_ranks(table, {"LAUNCHER_HOST_IP": "10.9.9.9"}, 2)
    with pytest.raises(RankSetupError, match="gives this pod 2 cards, the job asked for 8"):
        ascend_ranks(table, {"LAUNCHER_HOST_IP": "10.0.0.1"}, 8)
    pending = tmp_path / "hccl.json"
    pending.write_text(json.dumps({"status": "initializing"}))
    result = run_pod(
        {
            "LAUNCHER_DEVICE": "ascend",
            "RANK_TABLE_FILE": str(pending),
            "LAUNCHER_RANK_TABLE_WAIT_S": "0.3",
            "LAUNCHER_HOST_IP": "10.0.0.1",
        }
    )
    assert result.returncode == 1 and "launcher: no usable rank table after 0.3s" in result.stderr


def test_one_rank_failing_stops_the_others_and_sets_the_exit_code() -> None:
    code = "import os, sys, time\nif os.environ['RANK_ID'] == '1':\n    sys.exit(3)\ntime.sleep(60)\n"
    started = time.monotonic()
    result = run_pod({"LAUNCHER_DEVICE": "cpu", "LAUNCHER_LOCAL_SIZE": "2"}, code=code)
    assert result.returncode == 3
    assert time.monotonic() - started < 30  # rank 0 was stopped, not waited for


def test_sigterm_reaches_every_rank() -> None:
    code = (
        "import os, signal, sys, time\n"
        "def pushed(*_):\n"
        "    print('rank', os.environ['RANK_ID'], 'pushed', flush=True)\n"
        "    sys.exit(143)\n"
        "signal.signal(signal.SIGTERM, pushed)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VC_", "LAUNCHER_", "RANK_"))}
    pod = subprocess.Popen(
        [sys.executable, "-m", "entry.pod_ranks", "--", sys.executable, "-c", code],
        cwd=REPO,
        env={**base, "PYTHONPATH": str(REPO), "LAUNCHER_DEVICE": "cpu", "LAUNCHER_LOCAL_SIZE": "2"},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert pod.stdout is not None
    ready = [pod.stdout.readline() for _ in range(2)]
    assert all("ready" in line for line in ready)
    pod.terminate()
    out, _ = pod.communicate(timeout=30)
    assert pod.returncode == 143
    assert "[rank 0] rank 0 pushed" in out and "[rank 1] rank 1 pushed" in out
