"""Performance runs: per-card step time and throughput, and the node's total in perf.json.

Every rank writes `perf/rank-<r>.json`; the chief waits (bounded) for the other ranks of its node, then writes
perf.json with each card's figures and their sum. Ranks on other nodes push their own files beside it.
"""

from __future__ import annotations

import json
import time
from typing import Any

from entry.environment import JobEnvironment
from launcher.logs import logger

WAIT_FOR_RANKS_SECONDS = 120.0
FIGURES = ("ms_per_step", "samples_per_sec", "steps")


def report(env: JobEnvironment, metrics: dict[str, Any]) -> None:
    folder = env.output_dir / "perf"
    folder.mkdir(parents=True, exist_ok=True)
    mine = {"rank": env.rank, "device_id": env.device_id, "node": env.node_index}
    mine.update({k: metrics[k] for k in FIGURES if k in metrics})
    (folder / f"rank-{env.rank}.json").write_text(json.dumps(mine))
    if not env.is_chief:
        return
    deadline = time.monotonic() + WAIT_FOR_RANKS_SECONDS
    while len(list(folder.glob("rank-*.json"))) < env.local_size and time.monotonic() < deadline:
        time.sleep(0.5)
    cards = sorted((json.loads(p.read_text()) for p in folder.glob("rank-*.json")), key=lambda c: c["rank"])
    total = sum(c.get("samples_per_sec", 0.0) for c in cards)
    summary = {
        "job_id": env.job_id,
        "world_size": env.world_size,
        "ranks_reported": len(cards),
        "cards": cards,
        "total_samples_per_sec": total,
        "mean_ms_per_step": sum(c.get("ms_per_step", 0.0) for c in cards) / max(1, len(cards)),
    }
    (env.output_dir / "perf.json").write_text(json.dumps(summary, indent=2))
    logger.info(
        "Final Performance ms/step : {:.3f}  images/sec : {:.1f} ({} card(s))",
        summary["mean_ms_per_step"], total, len(cards),
    )
