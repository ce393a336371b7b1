"""Benchmark: per-call latency of mox.file against boto3 on one SeaweedFS, and copy_parallel throughput.

    python bench/mox_latency.py                         # this tree vs boto3
    python bench/mox_latency.py --trees .,/work/main    # also another checkout (before/after), same server

Small calls: `mox.file.exists`, `mox.file.stat` and `mox.file.read` (1 KiB object) against boto3's
`head_object` / `head_object` / `get_object().read()`, each timed call by call after a warm-up, rounds
interleaved; the table shows median and p90 in milliseconds and the ratio of medians to boto3. Each code tree
runs in its own child process (its own imports, its own client), against the same server and object.
Copies: `mox.file.copy_parallel` of --files small files up to the server and back down, files per second.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.seaweed import SeaweedServer  # noqa: E402

BUCKET = "bench"
KEY = "small/object.bin"
CALLS = ("exists", "stat", "read")

# Run in a child with the tree under test first on sys.path: prints one JSON line of timings.
CHILD = r"""
import json, os, sys, tempfile, time
import moxing as mox
calls, warmup, files, size = (int(a) for a in sys.argv[1:5])
url = "s3://%s/%s" % (os.environ["BENCH_BUCKET"], os.environ["BENCH_KEY"])
ops = {
    "exists": lambda: mox.file.exists(url),
    "stat": lambda: mox.file.stat(url),
    "read": lambda: mox.file.read(url, binary=True),
}
for op in ops.values():
    for _ in range(warmup):
        op()
times = {name: [] for name in ops}
for _ in range(calls):
    for name, op in ops.items():
        start = time.perf_counter()
        op()
        times[name].append(time.perf_counter() - start)
with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "src")
    for i in range(files):
        folder = os.path.join(src, "d%d" % (i % 10))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "f%05d.bin" % i), "wb") as fh:
            fh.write(os.urandom(size))
    prefix = "s3://%s/copy-%d-%d" % (os.environ["BENCH_BUCKET"], os.getpid(), time.time_ns())
    start = time.perf_counter()
    mox.file.copy_parallel(src, prefix)
    up = time.perf_counter() - start
    start = time.perf_counter()
    mox.file.copy_parallel(prefix, os.path.join(tmp, "dst"))
    down = time.perf_counter() - start
print(json.dumps({"times": times, "up_s": up, "down_s": down, "module": mox.file.__file__}))
"""


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e3, ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * 1e3


def boto3_times(env: dict[str, str], calls: int, warmup: int) -> dict[str, list[float]]:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=env["S3_ENDPOINT"],
        aws_access_key_id=env["ACCESS_KEY_ID"],
        aws_secret_access_key=env["SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    ops = {
        "exists": lambda: s3.head_object(Bucket=BUCKET, Key=KEY),
        "stat": lambda: s3.head_object(Bucket=BUCKET, Key=KEY),
        "read": lambda: s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read(),
    }
    for op in ops.values():
        for _ in range(warmup):
            op()
    times: dict[str, list[float]] = {name: [] for name in ops}
    for _ in range(calls):
        for name, op in ops.items():
            start = time.perf_counter()
            op()
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trees", default=".", help="comma-separated code trees to measure (default: this one)")
    parser.add_argument("--calls", type=int, default=300, help="timed calls per operation")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--files", type=int, default=300, help="files in the copy_parallel round trip")
    parser.add_argument("--size", type=int, default=4096, help="bytes per copied file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as work, SeaweedServer(workdir=os.path.join(work, "weed")) as server:
        env = {**os.environ, **server.env(), "BENCH_BUCKET": BUCKET, "BENCH_KEY": KEY,
               "LAUNCHER_HOME": os.path.join(work, "home")}
        import boto3

        s3 = boto3.client("s3", endpoint_url=env["S3_ENDPOINT"], aws_access_key_id=env["ACCESS_KEY_ID"],
                          aws_secret_access_key=env["SECRET_ACCESS_KEY"], region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=os.urandom(1024))

        results: dict[str, dict] = {"boto3": {"times": boto3_times(env, args.calls, args.warmup)}}
        for tree in args.trees.split(","):
            root = str(Path(tree).resolve())
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(args.calls), str(args.warmup), str(args.files), str(args.size)],
                env={**env, "PYTHONPATH": root}, capture_output=True, text=True, check=False, cwd=work,
            )
            if done.returncode != 0:
                sys.exit(f"{root}: the child failed:\n{done.stderr[-2000:]}")
            results[f"mox {root}"] = json.loads(done.stdout.strip().splitlines()[-1])

    base = {name: stats(samples)[0] for name, samples in results["boto3"]["times"].items()}
    names = list(results)
    print(f"latency, ms (median / p90), {args.calls} calls each after {args.warmup} warm-up; ratio = median / boto3")
    print("| call | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for call in CALLS:
        cells = []
        for name in names:
            median, p90 = stats(results[name]["times"][call])
            ratio = "" if name == "boto3" else f" ({median / base[call]:.2f}x)"
            cells.append(f"{median:.2f} / {p90:.2f}{ratio}")
        label = {"exists": "exists (boto3: head_object)", "stat": "stat (boto3: head_object)",
                 "read": "read 1 KiB (boto3: get_object)"}[call]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    print(f"copy_parallel, {args.files} x {args.size} B, files/s")
    print("| direction | " + " | ".join(names[1:]) + " |")
    print("|---" * len(names) + "|")
    for direction, field in (("up (local -> s3)", "up_s"), ("down (s3 -> local)", "down_s")):
        print(f"| {direction} | " + " | ".join(f"{args.files / results[n][field]:.0f}" for n in names[1:]) + " |")


if __name__ == "__main__":
    main()
