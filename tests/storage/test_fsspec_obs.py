"""`obs://` through fsspec: the embedded store's folder with no endpoint, s3fs against SeaweedFS with one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from launcher import storage

ROOT = Path(__file__).resolve().parents[2]


def _open_and_write(base: str) -> None:
    import fsspec

    storage.write_bytes(f"{base}/d/table.csv", b"a,b\n1,2\n")
    with fsspec.open(f"{base}/d/table.csv", "rb") as fh:
        assert fh.read() == b"a,b\n1,2\n"
    with fsspec.open(f"{base}/d/out/result.txt", "wb") as fh:
        fh.write(b"written by fsspec")
    assert storage.read_bytes(f"{base}/d/out/result.txt") == b"written by fsspec"
    fs, path = fsspec.core.url_to_fs(f"{base}/d/")
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)) == ["out", "table.csv"]


def test_embedded_store_without_endpoint(launcher_home: Path) -> None:
    _open_and_write("obs://local-bucket")
    assert (launcher_home / "objects" / "local-bucket" / "d" / "out" / "result.txt").read_bytes() == b"written by fsspec"


def test_s3fs_against_the_profile_endpoint(s3: str) -> None:
    _open_and_write(f"obs://{s3}")


def test_profile_settings_reach_s3fs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from launcher.storage.fsspec_obs import s3fs_options
    from launcher.storage.profiles import load_profile

    ca = tmp_path / "ca.pem"
    options = s3fs_options(
        load_profile(
            env={
                "S3_ENDPOINT": "https://obs.cn-north-4.myhuaweicloud.com",
                "ACCESS_KEY_ID": "AK",
                "SECRET_ACCESS_KEY": "sk-1234",
                "SECURITY_TOKEN": "tok-1234",
                "AWS_CA_BUNDLE": str(ca),
            }
        )
    )
    assert (options["key"], options["secret"], options["token"]) == ("AK", "sk-1234", "tok-1234")
    assert options["client_kwargs"] == {"region_name": "cn-north-4", "verify": str(ca)}
    assert options["config_kwargs"]["s3"] == {"addressing_style": "virtual"}
    assert options["config_kwargs"]["request_checksum_calculation"] == "when_required"
    local = s3fs_options(load_profile(env={"S3_ENDPOINT": "http://127.0.0.1:9000", "S3_VERIFY_SSL": "0"}))
    assert local["config_kwargs"]["s3"] == {"addressing_style": "path"}


@pytest.mark.parametrize("fsspec_first", [True, False])
def test_registered_by_importing_launcher_storage(launcher_home: Path, fsspec_first: bool) -> None:
    storage.write_bytes("obs://b/x.txt", b"registered")
    imports = "import fsspec, launcher.storage" if fsspec_first else "import launcher.storage, fsspec"
    code = f"{imports}\nwith fsspec.open('obs://b/x.txt') as fh: print(fh.read().decode())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "registered"


def test_pandas_reads_obs_urls(s3: str) -> None:
    pd = pytest.importorskip("pandas")
    storage.write_bytes(f"obs://{s3}/t.csv", b"a,b\n1,2\n3,4\n")
    assert pd.read_csv(f"obs://{s3}/t.csv")["b"].sum() == 6
