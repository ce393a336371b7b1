"""Names at the file system's limit download; a killed run's multipart uploads are aborted by the next run;
control characters in keys are escaped wherever they are printed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from launcher import storage
from launcher.storage.models import TransferConfig
from launcher.storage.orphans import LIVE_UPLOADS, PendingUpload, list_uploads, to_abort
from launcher.storage.profiles import load_profile
from launcher.storage.s3client import S3Client
from tests.launcher.helpers import REPO, run_cli
from tests.storage.helpers import read_tree, write_tree

MiB = 1 << 20


@pytest.mark.parametrize("length", [226, 240, 255])
@pytest.mark.parametrize("where", ["embedded", "s3"])
def test_names_of_226_to_255_bytes_download(length: int, where: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    bucket = request.getfixturevalue("s3") if where == "s3" else "bucket"
    name = ("é" * length)[: length // 2] + "x" * (length % 2)  # two bytes a character: multi-byte names too
    assert len(name.encode()) == length
    small, large = b"small", os.urandom(17 * MiB) if where == "s3" and length == 255 else b""
    storage.write_bytes(f"s3://{bucket}/long/{name}", small)
    expected = {name: small}
    if large:  # the ranged, threaded download path has its own temporary file
        storage.write_bytes(f"s3://{bucket}/long/big/{name}", large)
        expected[f"big/{name}"] = large
    storage.sync(f"s3://{bucket}/long", str(tmp_path / "out"))
    assert read_tree(tmp_path / "out") == expected
    storage.copy(f"s3://{bucket}/long/{name}", str(tmp_path / "single") + "/")
    assert (tmp_path / "single" / name).read_bytes() == small


def uploads(endpoint_env: dict[str, str], bucket: str, prefix: str) -> list[PendingUpload]:
    async def run() -> list[PendingUpload]:
        async with S3Client(load_profile(env=endpoint_env)) as client:
            return await list_uploads(client, bucket, prefix)

    return asyncio.run(run())


UPLOAD_SCRIPT = """
import sys
from launcher import storage
storage.sync(sys.argv[1], sys.argv[2], progress=False)
"""


def test_uploads_orphaned_by_a_killed_process_are_aborted_by_the_next_run(s3: str, seaweed, tmp_path: Path) -> None:  # noqa: ANN001
    env = seaweed.env()
    files = {"big.bin": os.urandom(64 * MiB), "small.txt": b"small"}
    write_tree(tmp_path / "src", files)
    # A previous run's upload of another file under the prefix, started moments ago: perhaps still alive.
    other = asyncio.run(_start_upload(env, s3, "out/other.bin"))

    proc = subprocess.Popen(
        [sys.executable, "-c", UPLOAD_SCRIPT, str(tmp_path / "src"), f"s3://{s3}/out"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 60
        while not any(u.key == "out/big.bin" for u in uploads(env, s3, "out/")):
            assert time.monotonic() < deadline and proc.poll() is None, "no multipart upload was seen in flight"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # no chance to abort its upload
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    orphans = {u.key for u in uploads(env, s3, "out/")}
    assert orphans == {"out/big.bin", "out/other.bin"}

    storage.sync(str(tmp_path / "src"), f"s3://{s3}/out")

    # The killed run's upload of big.bin is gone; the recent one of a file this run did not send is kept.
    assert [(u.key, u.upload_id) for u in uploads(env, s3, "out/")] == [("out/other.bin", other)]
    storage.sync(f"s3://{s3}/out", str(tmp_path / "back"))
    assert read_tree(tmp_path / "back") == files

    # Once older than the abandoned-upload age, any upload under the prefix goes too.
    (tmp_path / "src" / "small.txt").write_bytes(b"changed")
    storage.sync(str(tmp_path / "src"), f"s3://{s3}/out", transfer=TransferConfig(abandoned_upload_age_s=0))
    assert uploads(env, s3, "out/") == []


async def _start_upload(env: dict[str, str], bucket: str, key: str) -> str:
    async with S3Client(load_profile(env=env)) as client:
        upload_id = (await client.create_multipart_upload(bucket, key)).upload_id
        await client.upload_part(bucket, key, upload_id, 1, os.urandom(5 * MiB))
        return upload_id


def test_the_abort_rule_spares_our_own_uploads() -> None:
    config = TransferConfig(abandoned_upload_age_s=3600)
    pending = [
        PendingUpload("p/mine.bin", "ours", 99999.0),
        PendingUpload("p/resend.bin", "killed", 1.0),
        PendingUpload("p/recent.bin", "maybe-alive", 60.0),
        PendingUpload("p/old.bin", "abandoned", 7200.0),
    ]
    LIVE_UPLOADS.add("ours")
    try:
        chosen = to_abort(pending, {"p/mine.bin", "p/resend.bin"}, config)
    finally:
        LIVE_UPLOADS.discard("ours")
    assert [p.upload_id for p in chosen] == ["killed", "abandoned"]


HOSTILE_NAME = "evil\x1b]0;pwned\x07\x1b[2J\x1b[31mred\u202etxt.exe\r\n"


def test_control_characters_in_keys_are_escaped_when_printed(s3: str, seaweed, tmp_path: Path) -> None:  # noqa: ANN001
    storage.write_bytes(f"s3://{s3}/k/{HOSTILE_NAME}", b"x")
    storage.write_bytes(f"s3://{s3}/k/fine.txt", b"y")
    env = seaweed.env()
    shown = "evil\\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mred\\u202etxt.exe\\x0d\\x0a"

    for args in (["ls", f"s3://{s3}/k/"], ["ls", f"s3://{s3}/k/", "--recursive", "--long"]):
        result = run_cli("data", *args, env=env)
        assert result.returncode == 0, result.stderr
        assert shown in result.stdout and "\x1b" not in result.stdout and "\x07" not in result.stdout
        assert len(result.stdout.splitlines()) == 2

    # A failure names the key: escaped in the FAILED line and in the one-line error.
    out = tmp_path / "out"
    out.mkdir()
    (out / HOSTILE_NAME).mkdir()  # a folder where the file must go
    result = run_cli("data", "sync", f"s3://{s3}/k/", str(out), env=env)
    assert result.returncode == 2, result.stderr
    assert shown in result.stderr and "\x1b" not in result.stderr + result.stdout and "\x07" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("launcher: error:")]) == 1

    # Warnings name local files: a link with such a name is skipped with an escaped warning line.
    src = tmp_path / "src"
    src.mkdir()
    (src / HOSTILE_NAME).symlink_to("/etc")
    result = run_cli("data", "sync", str(src), f"s3://{s3}/up", env=env)
    assert result.returncode == 0 and shown in result.stderr and "\x1b" not in result.stderr
