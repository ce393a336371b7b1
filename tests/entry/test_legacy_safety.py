"""ModelZoo mode never writes into the user's code folder: CRLF scripts run from converted copies in the job
folder, a read-only code mount works, and hyperparameters cannot replace the entry's --data_path/--output_path."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from entry import legacy
from launcher.errors import UserError
from launcher.paths import objects_root
from tests.entry.test_boot import LEGACY_SCRIPT, _modelzoo_dir, run_entry, seed_data

HELPER = "#!/bin/bash\r\necho helper ran\r\n"


def zoo_with_helper(tmp_path: Path) -> Path:
    """The main script also calls a sibling script with CRLF line ends, as ModelZoo scripts do."""
    code = _modelzoo_dir(tmp_path)
    script = code / "test" / "train_full_1p.sh"
    script.write_bytes(LEGACY_SCRIPT.replace('echo "Final', 'bash ./test/helper.sh\r\necho "Final').encode())
    (code / "test" / "helper.sh").write_bytes(HELPER.encode())
    return code


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def read_only_code(tmp_path: Path) -> Iterator[Path]:
    """The code folder bind-mounted read-only, as the docker backend mounts it (needs root; skipped otherwise)."""
    code = zoo_with_helper(tmp_path)
    mount_point = tmp_path / "ro-code"
    mount_point.mkdir()
    for command in (["mount", "--bind", str(code), str(mount_point)], ["mount", "-o", "remount,bind,ro", str(mount_point)]):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], check=False)
            pytest.skip(f"cannot make a read-only bind mount here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_crlf_scripts_are_converted_in_the_job_folder_not_in_the_users(tmp_path: Path) -> None:
    code = zoo_with_helper(tmp_path)
    before = snapshot(code)
    result = run_entry(tmp_path, f"--data_url={seed_data()}", "--train_url=obs://toy-bucket/zoo/", "--epochs=2", cwd=code)
    assert result.returncode == 0, result.stderr
    assert snapshot(code) == before  # before: the user's scripts were rewritten in place
    out = objects_root() / "toy-bucket" / "zoo"
    assert (out / "ckpt_npu" / "model.ckpt").read_text() == "epochs=2\n"
    log = (out / "logs" / "job-1-proc-rank-0-device-0.txt").read_text()
    assert "helper ran\n" in log and "Final Train Accuracy : 0.98" in log  # the sibling ran converted too
    converted = tmp_path / "work" / "legacy-code" / "test" / "train_full_1p.sh"
    assert b"\r" not in converted.read_bytes()


def test_a_read_only_code_folder_runs(read_only_code: Path, tmp_path: Path) -> None:
    result = run_entry(tmp_path, f"--data_url={seed_data()}", "--train_url=obs://toy-bucket/ro/", "--epochs=3", cwd=read_only_code)
    assert result.returncode == 0, result.stderr  # before: a traceback writing the converted script back
    assert "Traceback" not in result.stderr
    assert (objects_root() / "toy-bucket" / "ro" / "ckpt_npu" / "model.ckpt").read_text() == "epochs=3\n"


def test_hyperparameters_named_data_path_or_output_path_do_not_replace_the_entrys(tmp_path: Path) -> None:
    code = zoo_with_helper(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    result = run_entry(
        tmp_path, f"--data_url={seed_data()}", "--train_url=obs://toy-bucket/zoo-hp/", "--epochs=4",
        f"--data_path={code}", f"--output_path={elsewhere}", cwd=code,
    )
    assert result.returncode == 0, result.stderr
    out = objects_root() / "toy-bucket" / "zoo-hp"
    assert (out / "data_listing.txt").read_text().split() == ["a.txt", "sub"]  # the synced data, not the code dir
    assert (out / "ckpt_npu" / "model.ckpt").read_text() == "epochs=4\n"
    assert not elsewhere.exists()
    assert "hyperparameter data_path ignored" in result.stderr and "hyperparameter output_path ignored" in result.stderr


@pytest.mark.parametrize("script", ["../outside.sh", "/etc/profile", "test/../../outside.sh"])
def test_a_legacy_script_path_out_of_the_code_folder_is_refused(tmp_path: Path, script: str) -> None:
    code = zoo_with_helper(tmp_path)
    (tmp_path / "outside.sh").write_text("echo outside\n")
    with pytest.raises(UserError, match="must be a path inside the code folder"):
        legacy.prepare(code, script, tmp_path / "work")
    assert not (tmp_path / "work").exists()
