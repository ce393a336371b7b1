"""ModelArts boot file (performance run): a short run that reports ms/step and samples/s in perf.json."""

import sys
from pathlib import Path

# Run as a script from an uploaded code dir, the packages beside `entry/` must be importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from entry.boot import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], mode="perf"))
