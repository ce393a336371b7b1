"""What `launcher data ls` imports: the command pays only for what it uses (issue 16, speed of the command).

A check on the import set, not on time (timing is bench/cli_startup.py's job): each module named here costs
tens to hundreds of milliseconds of start-up, and a stray top-level import brings it back without any test
noticing the time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Run the real entry point in a fresh interpreter; at exit (also after sys.exit), write what was imported.
_PROBE = """
import atexit, json, sys
out, sys.argv = sys.argv[1], ["launcher", *sys.argv[2:]]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
from launcher.__main__ import main
main()
"""

# Never on the `data` path: the job machinery, the backends, the trainer's libraries, botocore with static keys.
NEVER = ("launcher.cli", "launcher.jobs", "launcher.backends", "launcher.recipe", "keras", "jax", "yaml",
         "botocore", "boto3", "s3fs", "fsspec", "tqdm", "entry.progress",
         # the node's data cache: only `launcher data cache ...` needs it (and its file locks)
         "entry.datacache", "filelock",
         # retries in storage use the policy's delays directly; tenacity drives the backends' API calls only
         "tenacity",
         # `launcher data` is parsed by argparse (launcher/argcommands.py): fire costs ~80 ms to import and call
         "fire")
# The HTTP client is for S3 endpoints only; the sync engine for commands that move data.
NOT_FOR_A_LISTING = ("aiohttp", "yarl", "launcher.storage.s3client", "launcher.storage.sync_engine",
                     "launcher.storage.transfer", "launcher.storage.bulk", "launcher.storage.orphans",
                     "launcher.storage.models",
                     # ~0.2 s together: the profile is checked without pydantic, loguru loads on the first message
                     "pydantic", "pydantic_core", "loguru")


def _imports(tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.json"
    # PYTHONPATH is passed on: the subprocess must import this tree, not the editable install's.
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), *args], env=dict(os.environ), capture_output=True, text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(out.read_text()))


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_data_ls_on_the_embedded_store_imports_no_http_client_and_no_job_machinery(tmp_path: Path) -> None:
    modules = _imports(tmp_path, "data", "ls", "obs://bucket/empty/")
    assert "launcher.storage.api" in modules  # the probe really ran the command
    assert _loaded(modules, NEVER) == []
    assert _loaded(modules, NOT_FOR_A_LISTING) == []


def test_data_ls_on_an_s3_endpoint_sends_its_request_without_aiohttp(s3: str, tmp_path: Path) -> None:
    modules = _imports(tmp_path, "data", "ls", f"s3://{s3}/empty/")
    assert "launcher.storage.bulk" in modules  # the request went out over http.client
    assert _loaded(modules, NEVER) == []
    engine = ("aiohttp", "yarl", "launcher.storage.sync_engine", "launcher.storage.transfer",
              "launcher.storage.orphans", "launcher.storage.models", "pydantic", "loguru")
    assert _loaded(modules, engine) == []


def test_data_sync_to_an_s3_endpoint_sets_up_the_loop_pool_only_for_many_requests(s3: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for n in range(20):
        (src / f"f{n}.txt").write_text(str(n))
    # 20 small files to send: many requests in flight, over the event-loop pool (the check below is not vacuous),
    # and no aiohttp: only a forwarding proxy needs it.
    modules = _imports(tmp_path, "data", "sync", str(src), f"s3://{s3}/synced/")
    assert "launcher.storage.http11" in modules
    assert _loaded(modules, ("aiohttp", "yarl")) == []
    # Nothing changed: one listing, no transfer; and one file: a handful of requests. Both over http.client.
    for args in ([str(src), f"s3://{s3}/synced/"], [str(src / "f1.txt"), f"s3://{s3}/one/"]):
        modules = _imports(tmp_path, "data", "sync", *args)
        assert "launcher.storage.sync_engine" in modules and "launcher.storage.bulk" in modules
        assert _loaded(modules, ("aiohttp", "yarl", "launcher.storage.http11")) == []
    listed = subprocess.run([sys.executable, "-m", "launcher", "data", "ls", f"s3://{s3}/one/"],
                            capture_output=True, text=True, timeout=120)
    assert listed.stdout.split() == [f"s3://{s3}/one/f1.txt"], listed.stderr


@pytest.mark.parametrize("command", [["data", "du", "obs://bucket/"], ["data", "rm", "obs://bucket/x/", "--recursive"]])
def test_other_light_data_commands_stay_light(command: list[str], tmp_path: Path) -> None:
    assert _loaded(_imports(tmp_path, *command), NEVER + ("aiohttp",)) == []


def test_a_sync_still_works_through_the_lazy_imports(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a")
    modules = _imports(tmp_path, "data", "sync", str(src), "obs://bucket/copy/")
    assert "launcher.storage.sync_engine" in modules
    assert _loaded(modules, NEVER + ("pydantic",)) == []  # the engine's settings and reports are dataclasses
    # No S3 endpoint on either side: the HTTP client stays out (the engine names S3Client as a type only).
    assert _loaded(modules, ("aiohttp", "launcher.storage.s3client")) == []
    listed = subprocess.run(
        [sys.executable, "-m", "launcher", "data", "ls", "obs://bucket/copy/"], capture_output=True, text=True,
        timeout=120,
    )
    assert listed.stdout.split() == ["obs://bucket/copy/a.txt"]


def test_the_data_cache_commands_import_the_cache_when_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAUNCHER_DATA_CACHE", str(tmp_path / "cache"))
    modules = _imports(tmp_path, "data", "cache", "ls")
    assert "entry.datacache" in modules  # what the other commands leave out is really loaded here
    assert _loaded(modules, ("launcher.cli", "launcher.backends", "aiohttp")) == []


def test_the_data_command_logs_through_one_handler_and_leaves_no_loguru_setting(tmp_path: Path) -> None:
    probe = _PROBE.replace(
        'json.dumps(sorted(sys.modules))',
        # handlers ever added (loguru removes them all at exit): ours only, no default one made and removed
        'json.dumps([__import__("loguru").logger._core.handlers_count, os.environ.get("LOGURU_AUTOINIT")])',
    ).replace("import atexit, json, sys", "import atexit, json, os, sys")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a")
    (src / "gone").symlink_to(tmp_path / "nowhere")  # a broken link: the sync logs one warning for it
    out = tmp_path / "handlers.json"
    env = {k: v for k, v in os.environ.items() if k != "LOGURU_AUTOINIT"}
    done = subprocess.run([sys.executable, "-c", probe, str(out), "data", "sync", str(src), "obs://bucket/logged/"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text()) == [1, None]  # our redacting sink only; nothing left in the environment
    warning = [line for line in done.stderr.splitlines() if "gone" in line]
    assert len(warning) == 1 and "| WARNING |" in warning[0], done.stderr  # in our format, through our sink
