"""Checkpoints are complete or invisible: locally, while being pushed, and when restored from the store."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from entry.checkpoints import MANIFEST, is_complete, latest_checkpoint, read_state, save_checkpoint
from entry.environment import JobEnvironment
from entry.pusher import PeriodicPusher, push
from entry.restore import restore_latest
from launcher.paths import objects_root


def job_env(tmp_path: Path, rank: int = 0) -> JobEnvironment:
    env = JobEnvironment.from_env(
        {"LAUNCHER_WORK_DIR": str(tmp_path / "work"), "LAUNCHER_JOB_ID": "j", "RANK_ID": str(rank), "RANK_SIZE": "2"}
    )
    env.output_dir.mkdir(parents=True)
    return env


def write_files(sizes: dict[str, int]):  # noqa: ANN201
    def write(folder: Path) -> None:
        for name, size in sizes.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(b"x" * size)

    return write


def stored(url: str) -> Path:
    return objects_root() / url.removeprefix("obs://")


def test_save_publishes_atomically_and_latest_picks_the_newest_complete(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    save_checkpoint(folder, 1, write_files({"w.h5": 10}), {"epoch": 0})
    save_checkpoint(folder, 2, write_files({"w.h5": 10, "opt/state.bin": 5}), {"epoch": 1})
    assert latest_checkpoint(folder) == folder / "step-000000002"
    assert read_state(folder / "step-000000002") == {"step": 2, "epoch": 1}
    # A newer checkpoint whose file was cut short does not count.
    save_checkpoint(folder, 3, write_files({"w.h5": 10}), {})
    (folder / "step-000000003" / "w.h5").write_bytes(b"x" * 3)
    assert not is_complete(folder / "step-000000003")
    assert latest_checkpoint(folder) == folder / "step-000000002"
    assert not list(folder.glob(".*partial"))


def test_partial_checkpoints_are_never_pushed_and_manifests_follow_their_files(tmp_path: Path) -> None:
    env = job_env(tmp_path)
    partial = env.checkpoint_dir / ".step-000000007.partial"
    partial.mkdir(parents=True)
    (partial / "w.h5").write_bytes(b"half")
    save_checkpoint(env.checkpoint_dir, 6, write_files({"w.h5": 100}), {})
    assert push(env, "obs://b/run/")
    out = stored("obs://b/run/")
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000000006"]
    assert is_complete(out / "checkpoints" / "step-000000006")


def test_pushing_while_checkpoints_are_written_never_exposes_an_incomplete_one(tmp_path: Path) -> None:
    env = job_env(tmp_path)
    done = threading.Event()

    def trainer() -> None:
        for step in range(1, 41):
            save_checkpoint(env.checkpoint_dir, step, write_files({f"shard-{i}.bin": 20_000 + step for i in range(5)}), {})
        done.set()

    thread = threading.Thread(target=trainer)
    thread.start()
    out = stored("obs://b/live/") / "checkpoints"
    checked = 0
    while True:  # at least one round, however fast the trainer thread ran
        finished = done.is_set()
        push(env, "obs://b/live/")
        for folder in out.iterdir() if out.exists() else []:
            if (folder / MANIFEST).exists():  # in the store with a manifest => complete, always
                assert is_complete(folder), folder
                checked += 1
        if finished:
            break
    thread.join()
    push(env, "obs://b/live/")
    assert checked > 0
    assert all(is_complete(f) for f in out.iterdir())
    assert latest_checkpoint(out).name == "step-000000040"


def test_other_ranks_push_only_the_files_named_for_them(tmp_path: Path) -> None:
    env = job_env(tmp_path, rank=1)
    env.log_dir.mkdir()
    env.log_file.write_text("rank 1 log\n")
    (env.output_dir / "perf").mkdir()
    (env.output_dir / "perf" / "rank-1.json").write_text("{}")
    (env.output_dir / "seen-rank-1.json").write_text("{}")
    for foreign in ("metrics.json", "seen-rank-10.json", "seen-rank-0.json"):
        (env.output_dir / foreign).write_text("{}")
    assert push(env, "obs://b/r1/")
    out = stored("obs://b/r1/")
    pushed = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert pushed == sorted([f"logs/{env.log_file.name}", "perf/rank-1.json", "seen-rank-1.json"])


def test_periodic_pusher_pushes_a_new_checkpoint_promptly(tmp_path: Path) -> None:
    env = job_env(tmp_path)
    with PeriodicPusher(env, "obs://b/periodic/", interval=3600, poll=0.1) as pusher:
        save_checkpoint(env.checkpoint_dir, 1, write_files({"w": 4}), {})
        target = stored("obs://b/periodic/") / "checkpoints" / "step-000000001" / MANIFEST
        for _ in range(100):
            if target.exists():
                break
            threading.Event().wait(0.1)
        assert target.exists()
        assert pusher.push_now()


def test_restore_takes_the_newest_complete_remote_checkpoint(tmp_path: Path) -> None:
    source = tmp_path / "source"
    for step in (2, 3, 4):
        save_checkpoint(source, step, write_files({"w.h5": 50}), {"tag": step})
    remote = stored("obs://b/resume/") / "checkpoints"
    remote.mkdir(parents=True)
    for step in (2, 3, 4):
        shutil.copytree(source / f"step-{step:09d}", remote / f"step-{step:09d}")
    (remote / "step-000000004" / MANIFEST).unlink()  # upload cut before its manifest
    (remote / "step-000000003" / "w.h5").write_bytes(b"short")  # a file of the wrong size
    local = tmp_path / "ckpt"
    restored = restore_latest("obs://b/resume/", local)
    assert restored == local / "step-000000002"
    assert read_state(restored)["tag"] == 2
    assert sorted(p.name for p in local.iterdir()) == ["step-000000002"]  # nothing half-restored left behind


def test_restore_with_nothing_stored(tmp_path: Path) -> None:
    assert restore_latest("obs://b/never-ran/", tmp_path / "ckpt") is None
