"""How the sync engine sends its control requests (issue 16, speed of the command itself).

A run that sends only a few requests (one large file: its stats and HEAD, its parts on bulk.py's threads; a
no-change re-sync: two listings) goes over http.client and never sets up the event-loop pool; a fan-out over
many small files goes over that pool (http11.py). Neither imports aiohttp (~0.15 s), which only a forwarding
proxy needs. The blocking transport's
connections are kept between runs, so many short runs in one process do not open a connection each.
Checked on the import set and the server's connection count, not on time (timing is bench/sync's job).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from launcher import storage
from tests.mox.hostile_s3 import HostileS3

_PROBE = textwrap.dedent("""
    import json, sys
    from launcher import storage
    from launcher.storage.models import TransferConfig
    small = TransferConfig(multipart_threshold=5 << 20, part_size=5 << 20)
    storage.{call}
    print(json.dumps(["launcher.storage.http11" in sys.modules, "aiohttp" in sys.modules]))
""")


def _uses_the_loop_pool(call: str) -> bool:
    """Run one storage call in a fresh interpreter; whether it sent requests over the event-loop pool."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(call=call)], env=dict(os.environ), capture_output=True, text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    pool, aiohttp = json.loads(done.stdout.strip().splitlines()[-1])
    assert not aiohttp  # no proxy: nothing needs it
    return bool(pool)


def test_a_large_file_and_a_no_change_resync_stay_off_the_loop_pool(s3: str, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(11 << 20))  # three 5 MiB parts
    up = f"copy({str(big)!r}, 's3://{s3}/big/big.bin', transfer=small, progress=False)"
    assert not _uses_the_loop_pool(up)
    down = f"copy('s3://{s3}/big/big.bin', {str(tmp_path / 'back.bin')!r}, transfer=small, progress=False)"
    assert not _uses_the_loop_pool(down)
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()  # parts written and checked (composite ETag)

    tree = tmp_path / "tree"
    for i in range(40):
        (tree / f"d{i % 4}").mkdir(parents=True, exist_ok=True)
        (tree / f"d{i % 4}" / f"f{i}.txt").write_text(str(i))
        # Older than the upload by more than a second: the listings alone prove them unchanged (no HEADs).
        os.utime(tree / f"d{i % 4}" / f"f{i}.txt", (1_700_000_000, 1_700_000_000))
    first = f"sync({str(tree)!r}, 's3://{s3}/tree', progress=False)"
    assert _uses_the_loop_pool(first)  # 40 uploads in flight: over the pool (the checks around are not vacuous)
    assert not _uses_the_loop_pool(first)  # nothing changed: two listings, over http.client
    assert sorted(storage.ls(f"s3://{s3}/tree/", recursive=True)) == sorted(
        f"s3://{s3}/tree/d{i % 4}/f{i}.txt" for i in range(40)
    )


def test_many_short_runs_in_one_process_share_a_connection(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with HostileS3("hb", {"a.txt": b"a", "b.txt": b"bb"}) as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        for n in range(10):
            storage.copy("s3://hb/a.txt", str(tmp_path / f"a{n}.txt"), progress=False)
            storage.sync("s3://hb/b.txt", str(tmp_path / "b.txt"), progress=False)
        assert [(tmp_path / f"a{n}.txt").read_bytes() for n in range(10)] == [b"a"] * 10
        assert (tmp_path / "b.txt").read_bytes() == b"bb"
        assert len(server.peers) == 1, f"{len(server.peers)} connections for 20 sequential copies"
