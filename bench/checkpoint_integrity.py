"""What checksums and fsync cost a checkpoint save, verification a resume, and link-safe listing a push.

    .venv/bin/python bench/checkpoint_integrity.py [--mib 256] [--files 20000] [--rounds 3]

Saves a checkpoint of one MIB-sized weights file three ways: the former save (sizes only, no fsync), the current
one with the file written by path (hashed once it is closed: an HDF5 writer) and written through
`checkpoint_file` (hashed as it is written). Then times `latest_checkpoint` with and without verification, and the
listing of an output folder of FILES small files by the sync engine's LocalStore and by the link-safe
OutputFolder the pusher uses. Prints medians and ratios. Runs in a scratch folder; leaves nothing behind.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from entry.checkpoints import checkpoint_file, latest_checkpoint, save_checkpoint  # noqa: E402
from entry.output_folder import OutputFolder  # noqa: E402
from launcher.storage.stores import LocalStore  # noqa: E402


def former_save(checkpoint_dir: Path, step: int, write: Callable[[Path], None]) -> None:
    """The save before checksums: write, sizes manifest, rename (no fsync)."""
    tmp = checkpoint_dir / f".step-{step:09d}.partial"
    tmp.mkdir(parents=True)
    write(tmp)
    (tmp / "state.json").write_text(json.dumps({"step": step}))
    files = {p.relative_to(tmp).as_posix(): p.stat().st_size for p in sorted(tmp.rglob("*")) if p.is_file()}
    (tmp / "MANIFEST.json").write_text(json.dumps({"step": step, "files": files}))
    tmp.rename(checkpoint_dir / f"step-{step:09d}")


def median_s(run: Callable[[], object], rounds: int, reset: Callable[[], None]) -> float:
    times = []
    for _ in range(rounds):
        reset()
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    payload = os.urandom(1 << 20) * args.mib
    scratch = Path(tempfile.mkdtemp(prefix="bench-ckpt-"))
    try:
        folder = scratch / "ckpt"

        def reset() -> None:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()

        def by_path(d: Path) -> None:
            (d / "model.weights.h5").write_bytes(payload)

        def streamed(d: Path) -> None:
            with checkpoint_file(d, "model.weights.h5") as out:
                out.write(payload)

        rows = [
            ("save: former (sizes, no fsync)", median_s(lambda: former_save(folder, 1, by_path), args.rounds, reset)),
            ("save: written by path, hashed after, fsync", median_s(lambda: save_checkpoint(folder, 1, by_path, {}), args.rounds, reset)),
            ("save: checkpoint_file, hashed as written, fsync", median_s(lambda: save_checkpoint(folder, 1, streamed, {}), args.rounds, reset)),
        ]
        save_checkpoint(folder, 1, by_path, {})
        keep = lambda: None  # noqa: E731 - the checkpoint stays for the resume timings
        rows += [
            ("resume: latest_checkpoint, sizes only", median_s(lambda: latest_checkpoint(folder, verify=False), args.rounds, keep)),
            ("resume: latest_checkpoint, verified", median_s(lambda: latest_checkpoint(folder, verify=True), args.rounds, keep)),
        ]
        output = scratch / "output"
        for i in range(args.files):
            sub = output / f"d{i % 100}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"f{i}.txt").write_bytes(b"x")
        import asyncio

        rows += [
            (f"list {args.files} files: LocalStore", median_s(lambda: asyncio.run(LocalStore(str(output)).scan("")), args.rounds, keep)),
            (f"list {args.files} files: OutputFolder", median_s(lambda: asyncio.run(OutputFolder(str(output)).scan("")), args.rounds, keep)),
        ]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{'what':<52} {'median s':>9} {'vs first of its group':>22}")
    groups = {"save": rows[0][1], "resume": rows[3][1], "list": rows[5][1]}
    for name, seconds in rows:
        base = groups[name.split(":")[0].split(" ")[0]]
        print(f"{name:<52} {seconds:>9.3f} {seconds / base:>21.2f}x")


if __name__ == "__main__":
    main()
