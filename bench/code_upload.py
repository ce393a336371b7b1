"""What the safe code upload costs: .gitignore rules, the credentials list, link checks and staging.

    .venv/bin/python bench/code_upload.py [--files 2000] [--ignored 5000] [--rounds 3]

Builds a scratch project: FILES source files that are uploaded, IGNORED files under .venv/ and build output that
are not, and a .gitignore. Uploads it to the embedded store (a scratch LAUNCHER_HOME) two ways, ROUNDS times each,
each round to a fresh folder: `plain sync` is what the launcher did before (the storage engine's glob excludes on
the whole folder, links followed, .gitignore not read, so it also sends outputs/); `safe upload` is plan_code_upload + upload_code (pathspec
walk, never-upload list, links checked, the chosen files staged, then synced). Prints the median seconds of each
phase and the ratio. Leaves nothing behind.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OLD_EXCLUDES = [".git/*", ".venv/*", "*__pycache__/*", "*.pyc", "build/*", "dist/*", "tests/*"]


def make_project(root: Path, files: int, ignored: int) -> None:
    for i in range(files):
        path = root / "pkg" / f"m{i % 40:02d}" / f"f{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"VALUE = {i}\n" * 20)
    for i in range(ignored):
        path = root / (".venv/lib" if i % 2 else "outputs") / f"d{i % 50:02d}" / f"x{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * 512)
    (root / ".gitignore").write_text("outputs/\n*.log\n")
    (root / "recipe.yaml").write_text("name: bench\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--ignored", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-code-") as scratch:
        os.environ["LAUNCHER_HOME"] = str(Path(scratch) / "home")
        for name in ("S3_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            os.environ.pop(name, None)
        from loguru import logger

        from launcher import storage
        from launcher.backends.codeupload import plan_code_upload, upload_code
        from launcher.jobspec import JobSpec
        from launcher.recipe import Recipe

        logger.remove()  # the table only
        project = Path(scratch) / "project"
        make_project(project, args.files, args.ignored)
        recipe = Recipe(name="bench", trainer="pkg.train:main", hyperparameters_model="pkg.hp:H", data_url="obs://b/d/",
                        output_url="obs://b/o/")  # fmt: skip
        times: dict[str, list[float]] = {"plain sync": [], "safe upload: plan": [], "safe upload: stage+sync": []}
        for r in range(args.rounds):
            started = time.perf_counter()
            storage.sync(str(project), f"obs://b/plain-{r}/", exclude=OLD_EXCLUDES, progress=False)
            times["plain sync"].append(time.perf_counter() - started)

            job = JobSpec(id=f"bench-{r}", recipe=recipe, recipe_path=project / "recipe.yaml", code_dir=project,
                          hyperparameters={}, data_url="obs://b/d/", train_url="obs://b/o/")  # fmt: skip
            started = time.perf_counter()
            plan = plan_code_upload(job, f"obs://b/safe-{r}/")
            planned = time.perf_counter()
            upload_code(plan)
            times["safe upload: plan"].append(planned - started)
            times["safe upload: stage+sync"].append(time.perf_counter() - planned)
        plain = statistics.median(times["plain sync"])
        safe = statistics.median(times["safe upload: plan"]) + statistics.median(times["safe upload: stage+sync"])
        print(f"{args.files} files uploaded, {args.ignored} ignored; median of {args.rounds} rounds; embedded store")
        print(f"{'phase':<26}{'seconds':>10}")
        for name, values in times.items():
            print(f"{name:<26}{statistics.median(values):>10.3f}")
        print(f"{'safe upload total':<26}{safe:>10.3f}")
        print(f"{'safe / plain':<26}{safe / plain:>10.2f}x")


if __name__ == "__main__":
    main()
