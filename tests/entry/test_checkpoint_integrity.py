"""Checkpoints carry a checksum per file, are fsync'ed before they are published, and a corrupted one (same size,
other bytes) is never resumed from: the previous complete checkpoint is."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from entry import checkpoints
from entry.checkpoints import MANIFEST, checkpoint_file, is_complete, latest_checkpoint, read_state, save_checkpoint
from entry.restore import restore_latest
from launcher.paths import objects_root
from tests.entry.test_boot import run_entry, seed_data

WEIGHTS = "weights.bin"


def write_weights(content: bytes):  # noqa: ANN201
    def write(folder: Path) -> None:
        (folder / WEIGHTS).write_bytes(content)  # by path, as Keras/h5py write
        with checkpoint_file(folder, "opt/slots.bin") as out:  # streamed: hashed as it is written
            out.write(content[::-1])

    return write


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))  # same size, other bytes: the size check alone cannot see it


def test_the_manifest_records_a_checksum_per_file_hashing_streamed_files_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_back: list[str] = []
    real = checkpoints.file_sha256
    monkeypatch.setattr(checkpoints, "file_sha256", lambda p: read_back.append(Path(p).name) or real(p))
    folder = save_checkpoint(tmp_path, 7, write_weights(b"w" * 5000 + b"end"), {"epoch": 1})
    files = json.loads((folder / MANIFEST).read_text())["files"]
    assert set(files) == {WEIGHTS, "opt/slots.bin", "state.json"}
    for name, listed in files.items():
        content = (folder / name).read_bytes()
        assert listed == {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    assert read_back == [WEIGHTS]  # only the file a library wrote by path is read again; the others never


def test_a_checkpoint_corrupted_without_changing_its_size_is_skipped_for_the_previous_one(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, 1, write_weights(os.urandom(4096)), {"tag": 1})
    newest = save_checkpoint(tmp_path, 2, write_weights(os.urandom(4096)), {"tag": 2})
    assert latest_checkpoint(tmp_path) == newest
    flip_a_byte(newest / WEIGHTS)
    assert is_complete(newest)  # sizes still match: before, this was resumed from, and every restart crashed
    assert not is_complete(newest, verify=True)
    assert latest_checkpoint(tmp_path) == tmp_path / "step-000000001"


def test_restore_skips_a_corrupted_remote_checkpoint_and_takes_the_previous_one(tmp_path: Path) -> None:
    source = tmp_path / "source"
    for step in (3, 4):
        save_checkpoint(source, step, write_weights(os.urandom(2048)), {"tag": step})
    remote = objects_root() / "b" / "corrupt" / "checkpoints"
    shutil.copytree(source, remote)
    flip_a_byte(remote / "step-000000004" / "opt" / "slots.bin")
    local = tmp_path / "ckpt"
    restored = restore_latest("obs://b/corrupt/", local)
    assert restored == local / "step-000000003" and read_state(restored)["tag"] == 3
    assert sorted(p.name for p in local.iterdir()) == ["step-000000003"]  # nothing half-restored left behind


def test_files_and_manifest_are_fsynced_before_the_rename_that_publishes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_rename = os.fsync, Path.rename

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def rename(self: Path, target: Path) -> Path:
        events.append(("rename", str(self)))
        return real_rename(self, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(Path, "rename", rename)
    folder = save_checkpoint(tmp_path, 5, write_weights(b"x" * 100), {})
    partial = str(tmp_path / ".step-000000005.partial")
    published = events.index(("rename", partial))
    synced_before = {path for kind, path in events[:published] if kind == "fsync"}
    for name in (WEIGHTS, "opt/slots.bin", "state.json", MANIFEST):
        assert f"{partial}/{name}" in synced_before, name
    assert partial in synced_before and f"{partial}/opt" in synced_before  # the names, not only the bytes
    assert ("fsync", str(tmp_path)) in events[published:]  # and the rename itself
    assert is_complete(folder, verify=True)


def test_a_restarted_job_resumes_from_the_last_good_checkpoint(tmp_path: Path) -> None:
    first = run_entry(tmp_path / "one", f"--data_url={seed_data()}", "--train_url=obs://toy-bucket/resume/",
                      "--recipe=toy_counter.yaml", '--hyperparameters={"steps": 3}')
    assert first.returncode == 0, first.stderr
    stored = objects_root() / "toy-bucket" / "resume" / "checkpoints"
    flip_a_byte(stored / "step-000000003" / "weights.txt")  # bit rot in the store
    second = run_entry(tmp_path / "two", "--data_url=obs://toy-bucket/data/", "--train_url=obs://toy-bucket/resume/",
                       "--recipe=toy_counter.yaml", '--hyperparameters={"steps": 4}')
    assert second.returncode == 0, second.stderr
    log = (objects_root() / "toy-bucket" / "resume" / "logs" / "job-1-proc-rank-0-device-0.txt").read_text()
    assert "toy: resumed from step 2" in log and "toy: step 3\n" in log  # before: resumed from the corrupt step 3
    assert "files missing, of the wrong size or corrupted" in second.stderr


def test_pruning_keeps_the_newest_complete_checkpoints_to_fall_back_on(tmp_path: Path) -> None:
    from recipes.common.checkpoint_files import prune_checkpoints

    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, write_weights(b"w" * 100), {})
    (tmp_path / "step-000000003" / MANIFEST).unlink()  # a newest folder that is not complete (copied in by hand)
    deleted = prune_checkpoints(tmp_path, keep=1)
    assert [p.name for p in deleted] == ["step-000000001"]  # before: step 2 went too, leaving nothing to resume
    assert latest_checkpoint(tmp_path) == tmp_path / "step-000000002"
    save_checkpoint(tmp_path, 4, write_weights(b"w" * 100), {})
    assert [p.name for p in prune_checkpoints(tmp_path, keep=1)] == ["step-000000002", "step-000000003"]
