"""Inside a Volcano pod: start one entry process per card of this pod, with its rank in the job.

    python -m launcher.backends.volcano_ranks -- python entry/modelarts_entry_acc.py --data_url=... ...

A pod is one node of the job. On Ascend the rank of each card comes from the rank table the device plugin writes
into the `rings-config-<job>` ConfigMap (mounted at RANK_TABLE_FILE): this waits until its status is
`completed`, finds this pod's server in it, and gives each process its RANK_ID and DEVICE_ID from there. On GPU
and CPU the ranks follow VC_TASK_INDEX (set by Volcano's env plugin). SIGTERM reaches every process (they push
their outputs); when one fails the others are stopped, and the pod exits with the first failure's code.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO

from entry.environment import ENV_LOCAL_RANK, ENV_LOCAL_SIZE
from entry.ranktable import RankTable, RankTableError, load_rank_table

ENV_DEVICE = "LAUNCHER_DEVICE"  # cpu, gpu or ascend
ENV_NODES = "LAUNCHER_NODES"
ENV_HOST_IP = "LAUNCHER_HOST_IP"  # the node's IP: the rank table's server_id
ENV_POD_IP = "LAUNCHER_POD_IP"
ENV_RANK_TABLE_WAIT = "LAUNCHER_RANK_TABLE_WAIT_S"
COORDINATOR_PORT = 29400  # JAX coordinator on the first pod; TF workers listen on the ports after it
FAIL_FAST_GRACE = 30.0


class RankSetupError(Exception):
    """The pod cannot tell its ranks (no rank table in time, this server not in it)."""


def wait_for_rank_table(path: Path, timeout: float, poll: float = 0.5) -> RankTable:
    """The table once the device plugin has written it whole (status `completed`)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return load_rank_table(path)
        except RankTableError as error:
            if time.monotonic() >= deadline:
                raise RankSetupError(f"no usable rank table after {timeout:g}s: {error}") from None
        time.sleep(poll)


def ascend_ranks(table: RankTable, env: Mapping[str, str], per_pod: int) -> tuple[dict[str, str], list[dict[str, str]]]:
    mine = {env.get(ENV_HOST_IP, ""), env.get(ENV_POD_IP, "")} - {""}
    servers = [s for s in table.server_list if s.server_id in mine]
    if len(servers) != 1:
        listed = ", ".join(s.server_id for s in table.server_list)
        raise RankSetupError(
            f"this pod ({', '.join(sorted(mine)) or 'no IP'}) is not one server of the rank table ({listed})"
        )
    devices = sorted(servers[0].device, key=lambda d: d.rank_id)
    if len(devices) != per_pod:
        raise RankSetupError(f"the rank table gives this pod {len(devices)} cards, the job asked for {per_pod}")
    per_rank = [
        {
            "RANK_ID": str(d.rank_id),
            "DEVICE_ID": str(d.device_id),
            "ASCEND_DEVICE_ID": str(d.device_id),
            ENV_LOCAL_RANK: str(local),
        }
        for local, d in enumerate(devices)
    ]
    return {"RANK_SIZE": str(table.rank_size)}, per_rank


def indexed_ranks(
    env: Mapping[str, str], kind: str, per_pod: int, nodes: int
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """GPU/CPU: ranks node-major (pod i holds ranks i*per_pod ...), plus what JAX and TensorFlow need to meet."""
    index = int(env.get("VC_TASK_INDEX", "0"))
    world = nodes * per_pod
    hosts = [h for h in env.get("VC_WORKER_HOSTS", "").split(",") if h] or ["127.0.0.1"]
    common = {"RANK_SIZE": str(world)}
    if world > 1:
        common |= {"JAX_COORDINATOR_ADDRESS": f"{hosts[0]}:{COORDINATOR_PORT}", "JAX_NUM_PROCESSES": str(world)}
    workers = [f"{host}:{COORDINATOR_PORT + 1 + local}" for host in hosts for local in range(per_pod)]
    per_rank = []
    for local in range(per_pod):
        rank = index * per_pod + local
        values = {"RANK_ID": str(rank), "DEVICE_ID": str(local), ENV_LOCAL_RANK: str(local)}
        if kind == "cpu":
            values["CUDA_VISIBLE_DEVICES"] = ""
        elif per_pod > 1:
            values["CUDA_VISIBLE_DEVICES"] = str(local)
        if world > 1:
            values["JAX_PROCESS_ID"] = str(rank)
            values["TF_CONFIG"] = json.dumps(
                {"cluster": {"worker": workers}, "task": {"type": "worker", "index": rank}}
            )
        per_rank.append(values)
    return common, per_rank


def plan_ranks(env: Mapping[str, str]) -> tuple[dict[str, str], list[dict[str, str]]]:
    kind = env.get(ENV_DEVICE, "cpu")
    per_pod = int(env.get(ENV_LOCAL_SIZE, "1"))
    if kind == "ascend":
        table = wait_for_rank_table(Path(env["RANK_TABLE_FILE"]), float(env.get(ENV_RANK_TABLE_WAIT, "600")))
        return ascend_ranks(table, env, per_pod)
    return indexed_ranks(env, kind, per_pod, int(env.get(ENV_NODES, "1")))


def _prefix(stream: IO[bytes], label: bytes) -> None:
    for line in iter(stream.readline, b""):
        sys.stdout.buffer.write(label + line)
        sys.stdout.buffer.flush()


def run(argv: Sequence[str], env: Mapping[str, str]) -> int:
    common, per_rank = plan_ranks(env)
    several = len(per_rank) > 1
    children: list[subprocess.Popen[bytes]] = []
    readers = []
    for values in per_rank:
        child = subprocess.Popen(
            list(argv),
            env={**env, **common, **values},
            stdout=subprocess.PIPE if several else None,
            stderr=subprocess.STDOUT if several else None,
        )
        children.append(child)
        if several and child.stdout is not None:  # one pod log for all ranks: say whose line it is
            reader = threading.Thread(target=_prefix, args=(child.stdout, f"[rank {values['RANK_ID']}] ".encode()))
            reader.start()
            readers.append(reader)

    def forward(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    first_failure = 0
    deadline: float | None = None
    while [c.poll() for c in children].count(None):  # poll every child each round (any() would stop at the first)
        for child in children:
            code = child.returncode
            if code not in (None, 0) and not first_failure:
                first_failure = code if code > 0 else 128 - code
                forward(signal.SIGTERM, None)  # fail fast: the others cannot finish without this rank
                deadline = time.monotonic() + FAIL_FAST_GRACE
        if deadline is not None and time.monotonic() > deadline:
            forward(signal.SIGKILL, None)
        time.sleep(0.1)
    for reader in readers:
        reader.join()
    if not first_failure:
        failed = [c.returncode for c in children if c.returncode]
        first_failure = (failed[0] if failed[0] > 0 else 128 - failed[0]) if failed else 0
    return first_failure


def main(args: Sequence[str]) -> int:
    argv = list(args[1:] if args[:1] == ["--"] else args)
    if not argv:
        print("usage: python -m launcher.backends.volcano_ranks -- <entry command>", file=sys.stderr)
        return 2
    try:
        return run(argv, os.environ)
    except RankSetupError as error:
        print(f"launcher: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
