"""One long-lived storage client per process: warm connections reused across calls, safe from many threads,
re-created in a forked child, closed at exit without warnings; Ctrl-C/SIGTERM semantics are in
test_interrupt.py and tests/mox/test_public_snippets.py."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from launcher import storage
from launcher.storage import mox
from tests.mox.hostile_s3 import HostileS3

REPO = Path(__file__).resolve().parents[2]


def test_consecutive_calls_reuse_one_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    with HostileS3("hb", {"a.txt": b"a"}) as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        for _ in range(20):
            assert mox.exists("s3://hb/a.txt")
            assert mox.read("s3://hb/a.txt", binary=True) == b"a"
        assert len(server.peers) == 1, f"{len(server.peers)} connections for 40 sequential calls"


def test_many_threads_share_the_client(s3: str) -> None:
    for i in range(16):
        storage.write_bytes(f"s3://{s3}/t/{i}", str(i).encode())

    def work(i: int) -> bytes:
        return b"".join(storage.read_bytes(f"s3://{s3}/t/{(i + k) % 16}") for k in range(10))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(32)))
    assert results == [b"".join(str((i + k) % 16).encode() for k in range(10)) for i in range(32)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_client(s3: str) -> None:
    storage.write_bytes(f"s3://{s3}/fork/parent", b"p")  # the parent's loop and pool are up now
    pid = os.fork()
    if pid == 0:  # the child: must not touch the parent's loop thread (it does not exist here)
        code = 1
        try:
            storage.write_bytes(f"s3://{s3}/fork/child", storage.read_bytes(f"s3://{s3}/fork/parent") + b"c")
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's warm connections still work: a child closing its inherited copies would unregister them
    # from the epoll instance both share, and the parent's next read would wait out its read timeout.
    started = time.monotonic()
    assert storage.read_bytes(f"s3://{s3}/fork/child") == b"pc"
    assert time.monotonic() - started < 10


def test_exit_closes_the_pool_without_warnings(s3: str, tmp_path: Path) -> None:
    script = tmp_path / "one_call.py"
    script.write_text(textwrap.dedent(f"""
        import warnings
        warnings.simplefilter("default")
        import moxing as mox
        mox.file.write("s3://{s3}/exit/x", "x")
        print(mox.file.read("s3://{s3}/exit/x"))
    """))
    done = subprocess.run(
        [sys.executable, "-X", "dev", str(script)],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "x\n"
    assert "Unclosed" not in done.stderr and "ResourceWarning" not in done.stderr, done.stderr
