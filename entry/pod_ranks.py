"""Inside a Volcano pod: one entry process per card of this pod, with its rank in the job, under entry/ranks.py.

    python -m entry.pod_ranks -- python entry/modelarts_entry_acc.py --data_url=... ...

A pod is one node of the job. On Ascend the rank of each card comes from the rank table the device plugin writes
into the `rings-config-<job>` ConfigMap (mounted at RANK_TABLE_FILE): this waits until its status is
`completed`, finds this pod's server in it, and gives each process its RANK_ID and DEVICE_ID from there. On GPU
and CPU the ranks follow VC_TASK_INDEX (set by Volcano's env plugin). The rank supervisor does the rest: SIGTERM
reaches every process (they push their outputs); when one fails the others are stopped, and the pod exits with
the first failure's code. The ranks share the pod's log, each line labelled `[rank N] ` when there are several.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from entry import ranks
from entry.contract import (
    ENV_DEVICE,
    ENV_HOST_IP,
    ENV_LOCAL_RANK,
    ENV_LOCAL_SIZE,
    ENV_NODES,
    ENV_POD_IP,
    ENV_RANK_TABLE_WAIT,
    EXIT_FAILED,
)
from entry.ranktable import RankTable, RankTableError, load_rank_table

COORDINATOR_PORT = 29400  # JAX coordinator on the first pod; TF workers listen on the ports after it


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


def run(argv: Sequence[str], env: Mapping[str, str]) -> int:
    common, per_rank = plan_ranks(env)
    specs = [ranks.RankSpec(rank=int(values["RANK_ID"]), env={**common, **values}) for values in per_rank]
    return ranks.run(argv, specs, env=env)


def main(args: Sequence[str]) -> int:
    argv = list(args[1:] if args[:1] == ["--"] else args)
    if not argv:
        print("usage: python -m entry.pod_ranks -- <entry command>", file=sys.stderr)
        return 2
    try:
        return run(argv, os.environ)
    except RankSetupError as error:
        print(f"launcher: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
