"""transport.py: one TLS context per settings in a process (building one loads the CA store)."""

from __future__ import annotations

import ssl
import threading
from pathlib import Path

import pytest

from launcher.storage.errors import StorageError
from launcher.storage.profiles import load_profile
from launcher.storage.transport import ssl_context


def _profile(**env: str):  # noqa: ANN202
    return load_profile(env={"S3_ENDPOINT": "https://s3.example.test", **env})


def test_one_context_per_settings_shared_between_threads(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca_file = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    seen: list[ssl.SSLContext] = []
    threads = [threading.Thread(target=lambda: seen.append(ssl_context(_profile()))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(c) for c in seen}) == 1 and seen[0].verify_mode == ssl.CERT_REQUIRED
    private = ssl_context(_profile(AWS_CA_BUNDLE=str(ca_file)))
    assert private is not seen[0] and private is ssl_context(_profile(AWS_CA_BUNDLE=str(ca_file)))
    assert private.cert_store_stats()["x509_ca"] == 1  # that CA only, not the system's


def test_unverified_context_is_its_own_and_a_bad_bundle_is_one_line(tmp_path: Path) -> None:
    off = ssl_context(_profile(S3_VERIFY_SSL="false"))
    assert off.verify_mode == ssl.CERT_NONE and off is not ssl_context(_profile())
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("garbage")
    for _ in range(2):  # a failed build is not cached: every call says so
        with pytest.raises(StorageError, match="cannot load the CA bundle"):
            ssl_context(_profile(AWS_CA_BUNDLE=str(bad)))
