"""Time one copy or sync inside Python, without interpreter start-up: how the job runner uses the engine.

python bench/sync/engine_timer.py cp|sync SRC DST      -> prints ENGINE_SECONDS=<float>
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from launcher import storage  # noqa: E402


def main() -> None:
    op, src, dst = sys.argv[1:4]
    start = time.perf_counter()
    report = storage.sync(src, dst, progress=False) if op == "sync" else storage.copy(src, dst, progress=False)
    elapsed = time.perf_counter() - start
    print(report.summary())
    print(f"ENGINE_SECONDS={elapsed:.6f}")


if __name__ == "__main__":
    main()
