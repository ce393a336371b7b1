"""Benchmark: our sync engine vs s5cmd, aws s3 (awscli) and rclone against one SeaweedFS, in one run.

    python bench/sync/run.py                      # 5,000 x 4 KiB + 1 GiB, 3 rounds, medians
    python bench/sync/run.py --big-mib 256 --rounds 1 --tools ours,s5cmd
    python bench/sync/run.py --tls               # HTTPS (private CA) + virtual-host buckets (writable /etc/hosts)

Scenarios: (a) many small files in nested folders, upload and download, then a no-change re-sync of the
upload; (b) one large file, upload and download. Every tool is run as its command-line program (ours:
`python -m launcher data`, the user's command, interpreter start-up included), into its own bucket and
a fresh prefix per round, in an order that rotates between rounds. `ours-engine` runs the same engine and
reports the time inside Python, as the job runner sees it. Downloads are checked (file count and bytes). Missing tools
are skipped with a note. Results: a table on stdout and JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedServer  # noqa: E402

MB = 1_000_000
SCENARIOS = {
    "small-up": "small up",
    "small-down": "small down",
    "resync": "no-change re-sync",
    "big-up": "big up",
    "big-down": "big down",
}
NEEDS = {"small down": "small up", "no-change re-sync": "small up", "big down": "big up"}


@dataclass
class Tool:
    name: str
    binary: str | None
    note: str = ""

    def available(self) -> bool:
        return self.binary is not None


def find_tool(name: str) -> str | None:
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.is_file() else shutil.which(name)


@dataclass
class Commands:
    """The command line of each tool for each operation (folder or single-file copy, sync)."""

    endpoint: str
    python: str = sys.executable

    def engine(self, op: str, src: str, dst: str) -> list[str]:
        return [self.python, str(Path(__file__).with_name("engine_timer.py")), op, src, dst]

    def upload_dir(self, tool: Tool, src: Path, bucket: str, prefix: str) -> list[str]:
        url = f"s3://{bucket}/{prefix}"
        match tool.name:
            case "ours-engine":
                return self.engine("cp", str(src), url)
            case "ours":
                return [
                    self.python,
                    "-m",
                    "launcher",
                    "data",
                    "cp",
                    str(src),
                    url,
                    "--recursive",
                    "--progress=False",
                ]
            case "s5cmd":
                return [tool.binary or "", "--endpoint-url", self.endpoint, "cp", f"{src}/*", url + "/"]
            case "aws":
                return [
                    tool.binary or "",
                    "s3",
                    "cp",
                    "--recursive",
                    "--only-show-errors",
                    str(src),
                    url,
                    "--endpoint-url",
                    self.endpoint,
                ]
            case "rclone":
                return [tool.binary or "", "copy", str(src), f"sw:{bucket}/{prefix}"]
        raise ValueError(tool.name)

    def download_dir(self, tool: Tool, bucket: str, prefix: str, dst: Path) -> list[str]:
        url = f"s3://{bucket}/{prefix}"
        match tool.name:
            case "ours-engine":
                return self.engine("cp", url, str(dst))
            case "ours":
                return [
                    self.python,
                    "-m",
                    "launcher",
                    "data",
                    "cp",
                    url,
                    str(dst),
                    "--recursive",
                    "--progress=False",
                ]
            case "s5cmd":
                return [tool.binary or "", "--endpoint-url", self.endpoint, "cp", url + "/*", f"{dst}/"]
            case "aws":
                return [
                    tool.binary or "",
                    "s3",
                    "cp",
                    "--recursive",
                    "--only-show-errors",
                    url,
                    str(dst),
                    "--endpoint-url",
                    self.endpoint,
                ]
            case "rclone":
                return [tool.binary or "", "copy", f"sw:{bucket}/{prefix}", str(dst)]
        raise ValueError(tool.name)

    def resync(self, tool: Tool, src: Path, bucket: str, prefix: str) -> list[str]:
        url = f"s3://{bucket}/{prefix}"
        match tool.name:
            case "ours-engine":
                return self.engine("sync", str(src), url)
            case "ours":
                return [self.python, "-m", "launcher", "data", "sync", str(src), url, "--progress=False"]
            case "s5cmd":
                return [tool.binary or "", "--endpoint-url", self.endpoint, "sync", f"{src}/", url + "/"]
            case "aws":
                return [
                    tool.binary or "",
                    "s3",
                    "sync",
                    "--only-show-errors",
                    str(src),
                    url,
                    "--endpoint-url",
                    self.endpoint,
                ]
            case "rclone":
                return [tool.binary or "", "sync", str(src), f"sw:{bucket}/{prefix}"]
        raise ValueError(tool.name)

    def upload_file(self, tool: Tool, src: Path, bucket: str, key: str) -> list[str]:
        url = f"s3://{bucket}/{key}"
        match tool.name:
            case "ours-engine":
                return self.engine("cp", str(src), url)
            case "ours":
                return [self.python, "-m", "launcher", "data", "cp", str(src), url, "--progress=False"]
            case "s5cmd":
                return [tool.binary or "", "--endpoint-url", self.endpoint, "cp", str(src), url]
            case "aws":
                return [
                    tool.binary or "",
                    "s3",
                    "cp",
                    "--only-show-errors",
                    str(src),
                    url,
                    "--endpoint-url",
                    self.endpoint,
                ]
            case "rclone":
                return [tool.binary or "", "copyto", str(src), f"sw:{bucket}/{key}"]
        raise ValueError(tool.name)

    def download_file(self, tool: Tool, bucket: str, key: str, dst: Path) -> list[str]:
        url = f"s3://{bucket}/{key}"
        match tool.name:
            case "ours-engine":
                return self.engine("cp", url, str(dst))
            case "ours":
                return [self.python, "-m", "launcher", "data", "cp", url, str(dst), "--progress=False"]
            case "s5cmd":
                return [tool.binary or "", "--endpoint-url", self.endpoint, "cp", url, str(dst)]
            case "aws":
                return [
                    tool.binary or "",
                    "s3",
                    "cp",
                    "--only-show-errors",
                    url,
                    str(dst),
                    "--endpoint-url",
                    self.endpoint,
                ]
            case "rclone":
                return [tool.binary or "", "copyto", f"sw:{bucket}/{key}", str(dst)]
        raise ValueError(tool.name)


def tool_env(endpoint: str, home: Path, ca: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_", "S3_"))}
    if ca is not None:
        # ours and aws read AWS_CA_BUNDLE; s5cmd and rclone (Go) read SSL_CERT_FILE. Virtual-host everywhere.
        env.update({"AWS_CA_BUNDLE": str(ca), "SSL_CERT_FILE": str(ca), "RCLONE_CONFIG_SW_FORCE_PATH_STYLE": "false"})
        (home / "aws-config").write_text("[default]\ns3 =\n    addressing_style = virtual\n")
    # As installed: bytecode cached (pip compiles it), not every module compiled from source on every run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "LAUNCHER_HOME": str(home),
            "S3_ENDPOINT": endpoint,
            "ACCESS_KEY_ID": ACCESS_KEY,
            "SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(home / "aws-config"),  # none: no user profile leaks into the run
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
            "RCLONE_CONFIG": str(home / "rclone.conf"),
            "RCLONE_CONFIG_SW_TYPE": "s3",
            "RCLONE_CONFIG_SW_PROVIDER": "SeaweedFS",
            "RCLONE_CONFIG_SW_ACCESS_KEY_ID": ACCESS_KEY,
            "RCLONE_CONFIG_SW_SECRET_ACCESS_KEY": SECRET_KEY,
            "RCLONE_CONFIG_SW_ENDPOINT": endpoint,
            "RCLONE_CONFIG_SW_REGION": "us-east-1",
        }
    )
    return env


def make_small_tree(root: Path, count: int, size: int) -> None:
    """`count` files of `size` bytes, 10 x 10 folders deep."""
    if root.exists() and sum(1 for _ in root.rglob("*.bin")) == count:
        return
    shutil.rmtree(root, ignore_errors=True)
    for i in range(count):
        folder = root / f"d{i % 10}" / f"e{(i // 10) % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:06d}.bin").write_bytes(os.urandom(size))


def make_big_file(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size == size:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        left = size
        while left:
            chunk = min(left, 64 << 20)
            fh.write(os.urandom(chunk))
            left -= chunk


def tree_stats(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def edge_digest(path: Path) -> str:
    """Hash of the first and last MiB and the size: catches truncation and misplaced parts cheaply."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        digest.update(fh.read(1 << 20))
        fh.seek(max(0, size - (1 << 20)))
        digest.update(fh.read(1 << 20))
    return digest.hexdigest()


@dataclass
class Result:
    tool: str
    scenario: str
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")


def timed(cmd: list[str], env: dict[str, str], cwd: Path, settle_s: float = 0.0) -> tuple[float, float, str]:
    """Wall seconds, the tool's CPU seconds (user + system, its children included) and a problem, if any.

    The CPU time matters because the server shares the cores: a client that burns more CPU for the same
    work leaves less to SeaweedFS, and on 2 cores that shows up as wall time only some of the time.
    """
    # Flush dirty pages first: otherwise whoever runs right after a 1 GiB upload pays for its writeback.
    os.sync()
    # Then let the memory the last run freed settle. On a VM that hands freed memory back to its host (virtio
    # balloon free-page reporting, ~2 s after the free), a run that starts at once gets the previous tool's
    # warm pages, and one that starts later pays a fault for each: the system CPU of a 1 GiB download swung
    # 0.4 s to 1.7 s with the tool that ran before it. Settled, every tool starts from the same state.
    time.sleep(settle_s)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    problem = "" if done.returncode == 0 else f"exit {done.returncode}: {(done.stderr or done.stdout).strip()[-300:]}"
    for line in done.stdout.splitlines():  # ours-engine reports its own time, without interpreter start-up
        if line.startswith("ENGINE_SECONDS="):
            elapsed = float(line.split("=", 1)[1])
    return elapsed, cpu, problem


def tls_setup(workdir: Path, buckets: list[str], stack: contextlib.ExitStack) -> tuple[Path, dict[str, object]]:
    """A private CA and a certificate for <domain> and *.<domain>; the names on loopback while the run lasts."""
    import trustme

    from tests.storage.net import loopback_names

    folder = workdir / "tls"
    folder.mkdir(parents=True, exist_ok=True)
    domain = f"s3.bench-{os.getpid()}.test"
    authority = trustme.CA()
    cert = authority.issue_cert(domain, f"*.{domain}")
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    authority.cert_pem.write_to_path(str(folder / "ca.pem"))
    stack.enter_context(loopback_names([domain, *(f"{b}.{domain}" for b in buckets)]))
    return folder / "ca.pem", {"tls": (str(folder / "cert.pem"), str(folder / "key.pem")), "domain_name": domain}


def create_bucket(endpoint: str, bucket: str, ca: Path | None = None) -> None:
    import asyncio

    from launcher.storage.profiles import load_profile
    from launcher.storage.s3client import S3Client

    async def create() -> None:
        profile = load_profile(
            env={"S3_ENDPOINT": endpoint, "ACCESS_KEY_ID": ACCESS_KEY, "SECRET_ACCESS_KEY": SECRET_KEY},
            ca_bundle=str(ca) if ca else None,
        )
        async with S3Client(profile) as client:
            if not await client.bucket_exists(bucket):
                await client.create_bucket(bucket)

    asyncio.run(create())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--file-kib", type=int, default=4)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--tools",
        default="ours,ours-engine,s5cmd,aws,rclone",
        help="ours = the CLI (with interpreter start-up); ours-engine = the same engine timed inside Python",
    )
    parser.add_argument("--workdir", default=None, help="data and server folder (default: a temp dir, removed)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated scenarios to time: small-up, small-down, resync, big-up, big-down (default: all); "
        "the uploads a chosen scenario needs still run, untimed",
    )
    parser.add_argument(
        "--tls", action="store_true", help="HTTPS with a private CA (trustme) and virtual-host addressing (bucket.<domain>)"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=4.0,
        help="seconds to wait before each timed run, so that no tool inherits the memory the one before it freed",
    )
    args = parser.parse_args()
    chosen = [SCENARIOS[name] for name in args.only.split(",") if name] if args.only else list(SCENARIOS.values())
    if args.only and not set(args.only.split(",")) <= set(SCENARIOS):
        parser.error(f"--only takes {', '.join(SCENARIOS)}")

    args.load_before = os.getloadavg()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="launcher-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    small, big = workdir / "data" / "small", workdir / "data" / "big" / "one.bin"
    print(f"generating {args.files} x {args.file_kib} KiB and {args.big_mib} MiB under {workdir} ...", flush=True)
    make_small_tree(small, args.files, args.file_kib << 10)
    make_big_file(big, args.big_mib << 20)
    big_digest = edge_digest(big)

    tools = []
    for name in args.tools.split(","):
        binary = sys.executable if name in ("ours", "ours-engine") else find_tool(name)
        tool = Tool(name, binary)
        if not tool.available():
            print(f"note: {name} not found on PATH or beside python: skipped")
            continue
        tools.append(tool)

    # A fresh server every run: `weed mini` reloads saved flags, and old objects would let tools skip work.
    shutil.rmtree(workdir / "seaweed", ignore_errors=True)
    names = contextlib.ExitStack()
    ca: Path | None = None
    if args.tls:
        ca, tls_options = tls_setup(workdir, [f"bench-{tool.name}" for tool in tools], names)
        server = SeaweedServer(workdir=str(workdir / "seaweed"), **tls_options)
    else:
        server = SeaweedServer(workdir=str(workdir / "seaweed"))
    server.start()
    (workdir / "home").mkdir(exist_ok=True)
    env = tool_env(server.endpoint, workdir / "home", ca)
    commands = Commands(server.endpoint)
    results: dict[tuple[str, str], Result] = {}
    # A chosen scenario's prerequisite (the upload it reads back) runs too, untimed.
    needed = set(chosen) | {NEEDS[s] for s in chosen if s in NEEDS}
    scenarios = [s for s in SCENARIOS.values() if s in needed]
    try:
        for tool in tools:
            create_bucket(server.endpoint, f"bench-{tool.name}", ca)
        for round_no in range(args.rounds):
            order = tools[round_no % len(tools) :] + tools[: round_no % len(tools)]
            for scenario in scenarios:
                for tool in order:
                    bucket, prefix = f"bench-{tool.name}", f"r{round_no}"
                    out = workdir / "out" / tool.name
                    shutil.rmtree(out, ignore_errors=True)
                    out.mkdir(parents=True)
                    if scenario == "small up":
                        cmd = commands.upload_dir(tool, small, bucket, f"{prefix}/small")
                    elif scenario == "small down":
                        cmd = commands.download_dir(tool, bucket, f"{prefix}/small", out / "small")
                    elif scenario == "no-change re-sync":
                        cmd = commands.resync(tool, small, bucket, f"{prefix}/small")
                    elif scenario == "big up":
                        cmd = commands.upload_file(tool, big, bucket, f"{prefix}/big/one.bin")
                    else:
                        cmd = commands.download_file(tool, bucket, f"{prefix}/big/one.bin", out / "one.bin")
                    seconds, cpu, problem = timed(cmd, env, workdir, args.settle if scenario in chosen else 0.0)
                    if not problem and scenario == "small down":
                        count, size = tree_stats(out / "small")
                        if (count, size) != (args.files, args.files * (args.file_kib << 10)):
                            problem = f"downloaded {count} files / {size} bytes"
                    if not problem and scenario == "big down" and edge_digest(out / "one.bin") != big_digest:
                        problem = "downloaded file differs"
                    if scenario not in chosen:
                        if problem:
                            raise SystemExit(f"{tool.name} {scenario} (setup) failed: {problem}")
                        continue
                    result = results.setdefault((tool.name, scenario), Result(tool.name, scenario))
                    if problem:
                        result.errors.append(problem)
                    else:
                        result.seconds.append(seconds)
                        result.cpu_seconds.append(cpu)
                    print(
                        f"round {round_no + 1} {scenario:18} {tool.name:7} {seconds:7.2f}s cpu {cpu:6.2f}s {problem}",
                        flush=True,
                    )
                    shutil.rmtree(out, ignore_errors=True)
    finally:
        server.stop(timeout_s=5)
        names.close()
        shutil.rmtree(workdir / "seaweed", ignore_errors=True)

    report(results, tools, args, workdir)
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


def report(results: dict[tuple[str, str], Result], tools: list[Tool], args: argparse.Namespace, workdir: Path) -> None:
    big_mb = (args.big_mib << 20) / MB
    rate_of: dict[str, tuple[str, Callable[[float], float]]] = {
        "small up": ("files/s", lambda s: args.files / s),
        "small down": ("files/s", lambda s: args.files / s),
        "no-change re-sync": ("s", lambda s: s),
        "big up": ("MB/s", lambda s: big_mb / s),
        "big down": ("MB/s", lambda s: big_mb / s),
    }
    names = [t.name for t in tools]
    print()
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"median of {args.rounds} round(s), {args.settle:g} s settle before each timed run; SeaweedFS on loopback "
        f"({'HTTPS, private CA, virtual-host' if args.tls else 'plain HTTP, path style'}); ours = CLI incl. interpreter start-up, "
        "ours-engine = in-process engine time"
    )
    # The machine may be shared: a comparison is only as good as the load it ran under.
    before, after = args.load_before, os.getloadavg()
    print(f"load average (1/5/15 min): before {before[0]:.2f}/{before[1]:.2f}/{before[2]:.2f}, "
          f"after {after[0]:.2f}/{after[1]:.2f}/{after[2]:.2f}")
    print(f"{'scenario':20}" + "".join(f"{n:>23}" for n in names))
    rows = []
    for scenario, (unit, rate) in rate_of.items():
        if not any(key[1] == scenario for key in results):
            continue
        line = f"{scenario:20}"
        base = results.get(("s5cmd", scenario))
        for name in names:
            result = results.get((name, scenario))
            if result is None or not result.seconds:
                line += f"{'failed' if result and result.errors else '-':>23}"
                continue
            value = rate(result.median)
            if base is not None and base.seconds:
                # For a time (re-sync) the ratio is s5cmd's time over ours: above 1 means faster, as for rates.
                ratio = base.median / result.median if unit == "s" else value / rate(base.median)
                cell = f"{value:,.2f} {unit} ({ratio:.2f}x)" if unit == "s" else f"{value:,.0f} {unit} ({ratio:.2f}x)"
            else:
                cell = f"{value:,.2f} {unit}"
            line += f"{cell:>23}"
            rows.append(
                {
                    "tool": name,
                    "scenario": scenario,
                    "seconds": result.seconds,
                    "cpu_seconds": result.cpu_seconds,
                    "errors": result.errors,
                }
            )
        print(line)
        # The client's own CPU (user + system, median): on shared cores, what it leaves to the server.
        cpu_line = f"{'  client CPU':20}"
        for name in names:
            result = results.get((name, scenario))
            cpu = f"{statistics.median(result.cpu_seconds):.2f} s" if result and result.cpu_seconds else "-"
            cpu_line += f"{cpu:>23}"
        print(cpu_line)
    failures = [(k, r.errors) for k, r in results.items() if r.errors]
    for (name, scenario), errors in failures:
        print(f"errors: {name} {scenario}: {errors[0]}")
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"sync-{stamp}.json").write_text(
        json.dumps(
            {"args": vars(args) | {"workdir": str(workdir)}, "machine": platform.platform(), "rows": rows}, indent=2
        )
    )
    print(f"(ratios against s5cmd; raw timings in bench/results/sync-{stamp}.json)")


if __name__ == "__main__":
    main()
