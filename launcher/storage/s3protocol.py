"""The S3 wire protocol both transports speak (s3client.py's asyncio client and bulk.py's threads): the error
classes, which error codes invite a retry, reading an error body, the XML helpers, Content-MD5.

No HTTP client here: importing it costs neither aiohttp nor the client.
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass

from launcher.redact import redact
from launcher.storage.errors import CredentialsError, NotFound, StorageError, StorageUnavailable

# S3/OBS error codes that invite a retry, whatever the HTTP status.
RETRY_CODES = frozenset(
    {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling", "ThrottlingException"}
)
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class S3Error(StorageError):
    """An S3 error response (or a connection failure, status 0) after retries."""

    def __init__(self, message: str, status: int = 0, code: str = "") -> None:
        super().__init__(redact(message))
        self.status = status
        self.code = code


class ChecksumNotConfirmed(S3Error):
    """A part sent with a CRC came back without it: the store confirmed the checksum at create, not per part."""


class S3CredentialsError(S3Error, CredentialsError):
    pass


class S3Unavailable(S3Error, StorageUnavailable):
    """Connection failures, timeouts, throttling or 5xx that outlasted every retry: transient (exit 75)."""


class S3NotFound(S3Error, NotFound):
    pass


class WrongRegion(S3Error):
    """The bucket lives in another region (or behind another endpoint) than the one configured."""


def md5_b64(data: bytes | memoryview) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def child_text(node: ET.Element, name: str, default: str = "") -> str:
    found = node.find(NS + name)
    if found is None:
        found = node.find(name)
    return found.text or default if found is not None else default


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


def parse_xml(body: bytes, root: str = "") -> ET.Element:
    """Parse a reply; `root` is the element it must be (an HTML page is well-formed XML too)."""
    try:
        found = ET.fromstring(body)
    except ET.ParseError as exc:  # an HTML page, a truncated reply: one line, not a traceback
        raise S3Error(f"the server's reply is not valid S3 XML ({exc}): is the endpoint an S3 server?") from None
    if root and found.tag.rsplit("}", 1)[-1] != root:
        tag = found.tag.rsplit("}", 1)[-1][:40]
        raise S3Error(f"the server's reply is not valid S3 XML (<{tag}>, not <{root}>): is the endpoint an S3 server?")
    return found


def escape(text: str) -> str:
    """XML character data (what xml.sax.saxutils.escape does, without importing xml.sax at start-up)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def children(root: ET.Element, name: str) -> list[ET.Element]:
    """Elements `name` in the S3 namespace, or without one (some S3-compatible servers omit it)."""
    return list(root.iter(NS + name)) or list(root.iter(name))


def error_code(body: bytes) -> tuple[str, str]:
    if not body:
        return "", ""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return "", body[:200].decode(errors="replace")
    return child_text(root, "Code"), child_text(root, "Message")


def error_in_200(method: str, status: int, body: bytes) -> bool:
    """CompleteMultipartUpload and copies can answer 200 and put the error in the body."""
    if status != 200 or method not in ("POST", "PUT") or not body:
        return False
    head = body[:512].lstrip()
    if head.startswith(b"<?xml"):
        head = head.split(b"?>", 1)[-1].lstrip()
    return head.startswith(b"<Error>")
