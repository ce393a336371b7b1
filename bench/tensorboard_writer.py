"""Benchmark: the recipes' TensorBoard writer (recipes/common/tensorboard.py, on tensorboardX) against the hand-written
writer it replaced (pure-Python CRC32C and protobuf encoding), side by side.

    python bench/tensorboard_writer.py                     # 2,000 steps x 4 scalars, a histogram every 10 steps
    python bench/tensorboard_writer.py --steps 500 --old-rev 3d479a9

The old writer is read from git (`--old-rev`, the last commit that had it), so a checkout is needed. Each writer runs
in a fresh interpreter: the import time (what a training run pays once) and the writing time are reported, and
every file is read back with tensorboard's own reader to check that both wrote the same scalars.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OLD_REV = "3d479a9"  # the last commit with the hand-written writer
CHILD = r"""
import json, sys, time
from pathlib import Path
start = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import numpy as np
from {module} import summary_writer
imported = time.perf_counter() - start
steps, logdir = int(sys.argv[2]), Path(sys.argv[3])
rng = np.random.default_rng(0)
weights = rng.normal(size=(256, 128))
start = time.perf_counter()
writer = summary_writer(logdir, True)
for step in range(steps):
    writer.scalars(step, {{"loss": 1.0 / (step + 1), "accuracy": step / steps, "lr": 0.001, "val_loss": 0.5}})
    if step % 10 == 0:
        writer.histogram(step, "dense/kernel", weights)
writer.close()
print(json.dumps({{"import_s": imported, "write_s": time.perf_counter() - start}}))
"""


def run(label: str, root: Path, module: str, steps: int, logdir: Path) -> dict[str, float | str]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(module=module), str(root), str(steps), str(logdir)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    return {"writer": label, **found, "scalars": read_back(logdir / "tensorboard")}


def read_back(logdir: Path) -> int:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "histograms": 0})
    accumulator.Reload()
    return sum(len(accumulator.Scalars(tag)) for tag in accumulator.Tags()["scalars"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--old-rev", default=OLD_REV, help="git revision holding the hand-written writer")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tb-bench-") as tmp:
        old_root = Path(tmp) / "old"
        (old_root / "oldtb").mkdir(parents=True)
        source = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{args.old_rev}:recipes/common/tensorboard.py"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (old_root / "oldtb" / "__init__.py").write_text(source)
        rows = [
            run("hand-written (old)", old_root, "oldtb", args.steps, Path(tmp) / "logs-old"),
            run("tensorboardX (now)", REPO, "recipes.common.tensorboard", args.steps, Path(tmp) / "logs-new"),
        ]
    writes = args.steps + (args.steps + 9) // 10
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"machine: {machine}; {args.steps} steps")
    print("x 4 scalars (one event) and a 256x128 histogram every 10 steps; each writer in a fresh interpreter\n")
    print(f"{'writer':<22}{'import s':>10}{'write s':>10}{'ms/write':>10}{'scalars':>9}")
    for row in rows:
        per_write = 1000 * float(row["write_s"]) / writes
        timings = f"{row['import_s']:>10.3f}{row['write_s']:>10.3f}{per_write:>10.2f}"
        print(f"{row['writer']:<22}{timings}{row['scalars']:>9}")
    old, new = rows
    import_ratio = float(new["import_s"]) / float(old["import_s"])
    print(f"\nratio now/old: import {import_ratio:.2f}x, write {float(new['write_s']) / float(old['write_s']):.2f}x")
    print("(both flush every event to the OS; tensorboardX's own EventsWriter would also fsync each: ~5 ms more here)")


if __name__ == "__main__":
    main()
