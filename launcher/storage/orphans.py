"""Abort the multipart uploads that a killed run left unfinished under a destination.

A process killed mid-upload (SIGKILL, OOM, a node lost) cannot abort its multipart upload: the parts stay on
the server, invisible to listings and billed, until a lifecycle rule removes them. So every run that uploads to
an object-store prefix first lists the unfinished uploads below it (one ListMultipartUploads request; none is
sent when nothing is to be copied) and aborts the ones that are safe to abort:

- never one this process started (a registry of our own uploads in flight, `LIVE_UPLOADS`); and
- either its key is one this run is about to upload (the killed run's attempt at the very object we now
  send again: whichever upload finished, this run replaces it), or it was initiated more than
  `TransferConfig.abandoned_upload_age_s` ago (default 24 h, the usual AbortIncompleteMultipartUpload
  lifecycle age), measured on the server's own clock (its Date header), so a skewed local clock cannot make
  a live upload look old.

Another process uploading the very same key at the same moment would lose its upload (it would fail and
report it; the object is written by this run). Two writers of one key race anyway; nothing else is touched.
The sweep never fails a run: a server that refuses the listing (no `ListBucketMultipartUploads` permission)
only leaves the orphans where they were.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from launcher.logs import logger
from launcher.storage.display import printable
from launcher.storage.errors import StorageError
from launcher.storage.headers import parse_http_date
from launcher.storage.models import TransferConfig
from launcher.storage.s3protocol import NS, child_text, parse_xml
from launcher.storage.stores import S3Store

if TYPE_CHECKING:  # a type only: a sync that involves no S3 endpoint does not load the HTTP client
    from launcher.storage.s3client import S3Client

_MAX_PAGES = 100  # 100,000 unfinished uploads below one prefix: far beyond any real leftover

LIVE_UPLOADS: set[str] = set()
_live_lock = threading.Lock()


@contextmanager
def live_upload(upload_id: str) -> Iterator[None]:
    """Mark `upload_id` as ours while it is in flight, so that no sweep in this process aborts it."""
    with _live_lock:
        LIVE_UPLOADS.add(upload_id)
    try:
        yield
    finally:
        with _live_lock:
            LIVE_UPLOADS.discard(upload_id)


@dataclass(frozen=True, slots=True)
class PendingUpload:
    key: str
    upload_id: str
    age_s: float  # by the server's clock


async def list_uploads(client: S3Client, bucket: str, prefix: str) -> list[PendingUpload]:
    """Unfinished multipart uploads whose key starts with `prefix`."""
    found: list[PendingUpload] = []
    key_marker = upload_marker = ""
    for _ in range(_MAX_PAGES):
        params = {"uploads": "", "prefix": prefix}
        if key_marker:
            params["key-marker"] = key_marker
            params["upload-id-marker"] = upload_marker
        resp = await client.request("GET", bucket, "", params=params)
        now = parse_http_date(resp.headers["Date"]) if "Date" in resp.headers else None
        root = parse_xml(resp.body, "ListMultipartUploadsResult")
        for node in root.iter(NS + "Upload"):
            initiated = child_text(node, "Initiated")
            age = 0.0
            if now is not None and initiated:
                try:
                    age = now - datetime.fromisoformat(initiated.replace("Z", "+00:00")).timestamp()
                except ValueError:
                    age = 0.0
            found.append(PendingUpload(child_text(node, "Key"), child_text(node, "UploadId"), age))
        if child_text(root, "IsTruncated") != "true":
            break
        key_marker, upload_marker = child_text(root, "NextKeyMarker"), child_text(root, "NextUploadIdMarker")
        if not key_marker:
            break
    return found


def to_abort(pending: list[PendingUpload], keys_this_run: set[str], config: TransferConfig) -> list[PendingUpload]:
    """The rule of this module's docstring."""
    with _live_lock:
        ours = set(LIVE_UPLOADS)
    return [
        p
        for p in pending
        if p.upload_id not in ours and (p.key in keys_this_run or p.age_s >= config.abandoned_upload_age_s)
    ]


async def abort_orphaned_uploads(
    store: S3Store, prefix: str, keys_this_run: set[str], config: TransferConfig
) -> int:
    """Abort the orphaned uploads below `prefix`; returns how many were aborted. Never raises a StorageError."""
    client = store.client
    try:
        pending = await list_uploads(client, store.bucket, prefix)
    except StorageError as exc:
        logger.debug("cannot list unfinished uploads under {}: {}", printable(store.url(prefix)), exc)
        return 0
    aborted = 0
    for upload in to_abort(pending, keys_this_run, config):
        try:
            await client.abort_multipart_upload(store.bucket, upload.key, upload.upload_id)
        except StorageError as exc:
            logger.debug("cannot abort the upload of {}: {}", printable(store.url(upload.key)), exc)
            continue
        aborted += 1
    if aborted:
        logger.info(
            "aborted {} unfinished multipart upload(s) left under {} by an earlier run",
            aborted,
            printable(store.url(prefix)),
        )
    return aborted
