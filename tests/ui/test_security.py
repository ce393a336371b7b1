"""Safe by default: downloads confined to the job's train_url (text, encoded and symlink escapes refused, on
the embedded store and a real S3 server), CSRF on every button, a token off loopback, no DNS rebinding, headers."""

from __future__ import annotations

import http.client as http_client
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from launcher.backends.local import process
from launcher.jobs import JobState, JobStore
from launcher.paths import objects_root
from launcher.ui.outputs import OutsideOutputs, checked_relpath
from launcher.ui.security import TOKEN_COOKIE, Access
from tests.ui.conftest import csrf_of, make_record, put

TRAVERSALS = [
    "../other-job/secret.txt",
    "..%2Fother-job%2Fsecret.txt",
    "%2e%2e/other-job/secret.txt",
    "logs/../../other-job/secret.txt",
    "%2Fetc%2Fpasswd",
    "..\\other-job\\secret.txt",
    "./metrics.json",
]


def raw_get(http: httpx.Client, path: str) -> httpx.Response:
    """GET with the path sent byte for byte (http.client): httpx resolves `..` and `.` before sending."""
    url = httpx.URL(str(http.base_url))
    connection = http_client.HTTPConnection(url.host, url.port, timeout=30)
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        return httpx.Response(answer.status, headers=answer.getheaders(), content=answer.read())
    finally:
        connection.close()


def test_download_serves_the_job_files_and_refuses_every_escape(store: JobStore, client: httpx.Client) -> None:
    make_record(store, "mine")
    put("obs://ui-bucket/jobs/mine/metrics.json", {"accuracy": 0.5})
    put("obs://ui-bucket/jobs/mine/model/weights.bin", b"\x00\x01weights")
    put("obs://ui-bucket/jobs/other-job/secret.txt", b"another job's file")
    assert client.get("/jobs/mine/files/metrics.json").json() == {"accuracy": 0.5}
    weights = client.get("/jobs/mine/files/model/weights.bin")
    assert weights.content == b"\x00\x01weights" and weights.headers["content-disposition"].startswith("attachment")
    for path in TRAVERSALS:
        response = raw_get(client, f"/jobs/mine/files/{path}")
        assert response.status_code in (400, 404), path
        assert b"another job" not in response.content, path
    assert client.get("/jobs/mine/files/nothing-here.txt").status_code == 404


def test_a_symlink_out_of_the_job_folder_is_neither_listed_nor_served(
    store: JobStore, client: httpx.Client, tmp_path: Path
) -> None:
    make_record(store, "linked")
    put("obs://ui-bucket/jobs/linked/metrics.json", {"accuracy": 0.5})
    outside = tmp_path / "private.txt"
    outside.write_text("private key material")
    folder = objects_root() / "ui-bucket" / "jobs" / "linked"
    os.symlink(outside, folder / "leak.txt")
    os.symlink(tmp_path, folder / "leakdir")
    page = client.get("/jobs/linked").text
    assert "leak.txt" not in page and "private.txt" not in page
    for path in ("leak.txt", "leakdir/private.txt"):
        response = raw_get(client, f"/jobs/linked/files/{path}")
        assert response.status_code == 400 and b"private key" not in response.content


def test_served_outputs_cannot_run_script(store: JobStore, client: httpx.Client) -> None:
    make_record(store, "svg")
    put("obs://ui-bucket/jobs/svg/plot.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    put("obs://ui-bucket/jobs/svg/report.html", b"<script>alert(1)</script>")
    svg = client.get("/jobs/svg/files/plot.svg")
    assert svg.headers["content-type"] == "image/svg+xml" and "sandbox" in svg.headers["content-security-policy"]
    html = client.get("/jobs/svg/files/report.html")
    assert html.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in html.headers["content-security-policy"] and html.headers["x-content-type-options"] == "nosniff"


def test_outputs_on_a_real_s3_server_are_listed_downloaded_and_confined(
    store: JobStore, client: httpx.Client, s3: str
) -> None:
    make_record(store, "on-s3", train_url=f"s3://{s3}/jobs/on-s3/")
    put(f"s3://{s3}/jobs/on-s3/metrics.json", {"accuracy": 0.75})
    put(f"s3://{s3}/jobs/on-s3/plots/curve.png", b"\x89PNG\r\n\x1a\n s3")
    put(f"s3://{s3}/jobs/other/secret.txt", b"another job's object")
    assert client.get("/api/jobs").json()["rows"][0]["headline"] == ["accuracy", 0.75]
    page = client.get("/jobs/on-s3").text
    assert "plots/curve.png" in page
    assert client.get("/jobs/on-s3/files/plots/curve.png").content == b"\x89PNG\r\n\x1a\n s3"
    for path in ("../other/secret.txt", "%2e%2e/other/secret.txt"):
        response = raw_get(client, f"/jobs/on-s3/files/{path}")
        assert response.status_code in (400, 404) and b"another job" not in response.content


@pytest.fixture
def supervisor() -> Iterator[dict[str, object]]:
    """A live process standing in for a pending job's local supervisor, so `status` keeps the job PENDING."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield process.identity(child.pid, prefix="supervisor_")
    finally:
        child.kill()
        child.wait()


def test_buttons_need_the_pages_csrf_token_and_origin(
    store: JobStore, client: httpx.Client, supervisor: dict[str, object]
) -> None:
    make_record(store, "live", JobState.PENDING, handle=supervisor, started_at=None)
    page = client.get("/jobs/live")
    assert page.status_code == 200 and 'id="stop-form" hidden' not in page.text  # a pending job can be stopped
    csrf = csrf_of(page.text)
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert client.post("/jobs/live/stop", content="", headers=form).status_code == 403
    assert client.post("/jobs/live/stop", content="csrf=wrong", headers=form).status_code == 403
    evil = {**form, "origin": "http://evil.example"}
    assert client.post("/jobs/live/stop", content=f"csrf={csrf}", headers=evil).status_code == 403
    assert client.post("/jobs/live/stop", content=f"csrf={csrf}", headers={**form, "origin": "null"}).status_code == 403
    assert store.get("live").state is JobState.PENDING  # nothing was stopped by the refused requests
    # Restart is for ended jobs only: two runs must never write one train_url.
    assert client.post("/jobs/live/restart", content=f"csrf={csrf}", headers=form).status_code == 409
    stopped = client.post("/jobs/live/stop", content=f"csrf={csrf}", headers=form)
    assert stopped.status_code == 303 and stopped.headers["location"] == "/jobs/live"
    assert store.get("live").state is JobState.STOPPED


def test_off_loopback_every_request_needs_the_token(store: JobStore, token_server: tuple[str, Access]) -> None:
    url, access = token_server
    make_record(store, "t-1")
    with httpx.Client(base_url=url, timeout=30) as http:
        for path in ("/", "/api/jobs", "/jobs/t-1", "/static/app.css", "/api/jobs/t-1/logs/0"):
            refused = http.get(path)
            assert refused.status_code == 401 and "t-1" not in refused.text, path
        assert http.get("/", params={"token": "wrong"}).status_code == 401
        assert http.get("/api/jobs", headers={"authorization": f"Bearer {access.token}"}).status_code == 200
        assert http.get("/api/jobs", headers={"x-launcher-token": access.token}).status_code == 200
        entered = http.get("/jobs/t-1", params={"token": access.token})
        assert entered.status_code == 303 and entered.headers["location"] == "/jobs/t-1"  # token leaves the URL
        assert http.cookies.get(TOKEN_COOKIE) == access.token
        assert "httponly" in entered.headers["set-cookie"].lower() and "samesite=strict" in entered.headers["set-cookie"].lower()
        assert http.get("/jobs/t-1").status_code == 200  # the cookie now


def test_loopback_refuses_foreign_host_names_and_sets_protective_headers(client: httpx.Client) -> None:
    # DNS rebinding: another site's name resolving to 127.0.0.1 arrives with its own Host header.
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400
    page = client.get("/")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "same-origin" and page.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::"])
def test_any_other_host_gets_a_token(host: str) -> None:
    assert Access.for_host(host).token
    assert Access.for_host("127.0.0.1").token is None


@pytest.mark.parametrize("path", ["", "/etc/passwd", "a/../b", "..", "a//b", "./a", "a\\b", "a/\x00"])
def test_checked_relpath_refuses(path: str) -> None:
    with pytest.raises(OutsideOutputs):
        checked_relpath(path)
    assert checked_relpath("logs/failure.json") == "logs/failure.json"
