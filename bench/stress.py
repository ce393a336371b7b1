"""Load that the launcher must hold: a 50,000-file sync and 20 concurrent local jobs on one job store.

    .venv/bin/python bench/stress.py [--files 50000] [--jobs 20]

Part 1 syncs FILES small files up to a throwaway SeaweedFS server and back, then re-syncs with no change; it
checks every byte and reports files/s and this process's peak memory. Part 2 submits JOBS toy jobs at once
through the CLI (racing on one SQLite file), waits for all, checks that every record ended in the right state
with no lost update, and reports jobs/minute and the peak memory of all job processes together.
Prints a table. Runs in a scratch LAUNCHER_HOME; leaves nothing behind.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
sys.path.insert(0, str(ROOT))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sync_stress(files: int, scratch: Path) -> list[tuple[str, str]]:
    from launcher import storage
    from tests.seaweed import SeaweedServer
    from tests.storage.helpers import make_bucket

    source = scratch / "source"
    for i in range(files):
        folder = source / f"d{i % 100:02d}" / f"e{i // 100 % 50:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.bin").write_bytes(i.to_bytes(4, "big") * 256)
    rows = []
    with SeaweedServer(workdir=str(scratch / "seaweed")) as server:
        os.environ.update(server.env())
        make_bucket(server.endpoint, "stress")
        for label, src, dst in (
            ("upload", str(source), "s3://stress/tree/"),
            ("download", "s3://stress/tree/", str(scratch / "back")),
            ("no-change re-sync", str(source), "s3://stress/tree/"),
        ):
            started = time.perf_counter()
            report = storage.sync(src, dst, progress=False)
            seconds = time.perf_counter() - started
            moved = report.copied or report.skipped
            rows.append((f"sync {files} files: {label}", f"{moved / seconds:,.0f} files/s ({seconds:.1f} s, copied {report.copied})"))
    back = scratch / "back"
    mismatched = sum(
        (back / p.relative_to(source)).read_bytes() != p.read_bytes() for p in source.rglob("*.bin")
    )
    rows.append(("sync: files differing after the round trip", str(mismatched)))
    rows.append(("sync: peak memory of this process", f"{peak_rss_mib():,.0f} MiB"))
    for key in ("S3_ENDPOINT", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY"):
        os.environ.pop(key, None)
    return rows


def _job_memory_mib(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _descendants() -> set[int]:
    """Processes started by the launcher's supervisors (they run detached, so find them by command line)."""
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"launcher.backends.local.supervisor" in text or b"modelarts_entry" in text or b"entry.trainer_process" in text:
            found.add(int(cmdline.parent.name))
    return found


def jobs_stress(jobs: int) -> list[tuple[str, str]]:
    env = {**os.environ, "PYTHONPATH": str(FIXTURES)}

    def submit(i: int) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "launcher", "submit", str(FIXTURES / "toy_counter.yaml"), "--steps", "5",
             "--step_seconds", "0.2", "--note", f"job-{i}", "--detach"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        )
        return out.stdout.split()[1]

    peak = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.25):
            peak = max(peak, _job_memory_mib(_descendants()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        ids = list(pool.map(submit, range(jobs)))
    from launcher.jobs import JobStore

    store = JobStore()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        records = [store.get(j) for j in ids]
        if all(r.state.terminal for r in records):
            break
        time.sleep(0.5)
    seconds = time.perf_counter() - started
    stop.set()
    states = {r.state.value for r in records}
    lost = sum(r.hyperparameters.get("note") != f"job-{i}" for i, r in enumerate(records))
    return [
        (f"{jobs} concurrent jobs: all ended", f"{states} in {seconds:.1f} s ({jobs / seconds * 60:,.0f} jobs/min)"),
        (f"{jobs} concurrent jobs: records with a lost or crossed update", str(lost)),
        (f"{jobs} concurrent jobs: peak memory of all job processes", f"{peak:,.0f} MiB"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--jobs", type=int, default=20)
    args = parser.parse_args()
    from launcher.logs import setup_logging

    setup_logging("WARNING")  # the table is the output
    with tempfile.TemporaryDirectory(prefix="launcher-stress-") as scratch:
        os.environ["LAUNCHER_HOME"] = str(Path(scratch) / "home")
        rows = sync_stress(args.files, Path(scratch)) + jobs_stress(args.jobs)
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  result")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
