"""A lean asyncio S3 client (our HTTP/1.1 transport + our SigV4) for the handful of calls the sync engine makes.

Two transports behind one `request()`: http11.py's keep-alive pool on the event loop (hundreds of requests in
flight: the sync engine, long-lived processes with a warm pool; aiohttp only through a forwarding proxy), or,
for a client made with `blocking=True`, bulk.py's http.client path on a worker thread (a command that sends a
few requests and exits). Both share the signer, retry policy, TLS/proxy settings and error mapping.

Chosen by measurement (bench/sync/clients.py, 4 KiB objects on 2 cores): boto3, s3fs and aiobotocore
reach 600-900 requests/s, held back by botocore's per-request pipeline; this client does 1,700 PUT/s and
2,900 GET/s, keeps hundreds of requests in flight on one event loop and leaves the CPU to the network, the
disk and the server.
OBS-safe by construction: signature v4, Content-MD5 or a whole-body `x-amz-checksum-crc32c` header (asked for only
where the store confirms it: checksums.py) instead of aws-chunked trailing checksums, path or virtual-host
addressing per profile, identity transfer encoding (no transparent decompression).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus, urlsplit

from launcher.logs import logger
from launcher.retry import RETRY_STATUS, EndpointHealth, RetryPolicy, retry_after_s
from launcher.storage import checksums
from launcher.storage import credentials as chain
from launcher.storage.errors import StorageError
from launcher.storage.headers import metadata_of, parse_http_date  # noqa: F401 (re-exported)
from launcher.storage.profiles import Profile
from launcher.storage.s3protocol import (  # noqa: F401 (the error classes are re-exported)
    NS,
    RETRY_CODES,
    Response,
    S3CredentialsError,
    S3Error,
    S3NotFound,
    S3Unavailable,
    WrongRegion,
    child_text,
    children,
    error_code,
    error_in_200,
    escape,
    md5_b64,
    parse_xml,
)
from launcher.storage.sigv4 import EMPTY_SHA256, UNSIGNED_PAYLOAD, Signer, canonical_query, uri_encode_path
from launcher.storage.transport import proxy_for, ssl_context


# The storage budget: retries start at 0.25 s and stop doubling at 8 s (the profile sets the attempts).
_BASE_DELAY_S = 0.25
_MAX_DELAY_S = 8.0

if TYPE_CHECKING:
    from launcher.storage.bulk import BulkClient
    from launcher.storage.http11 import HttpPool

_CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "InvalidToken",
        "ExpiredToken",
        "TokenRefreshRequired",
        "AuthorizationHeaderMalformed",
    }
)
_REDIRECT_CODES = frozenset({"PermanentRedirect", "TemporaryRedirect", "IllegalLocationConstraintException"})
# Request headers with which the server checks every byte of the body itself.
_BODY_CHECKS = ("Content-MD5", *(checksums.header_name(algorithm) for algorithm in checksums.ALGORITHMS))


@dataclass(frozen=True, slots=True)
class ListedObject:
    key: str
    size: int
    mtime: float
    etag: str


@dataclass(frozen=True, slots=True)
class MultipartUpload:
    upload_id: str
    checksum: str | None  # the CRC the store keeps for the whole object ("crc32c"), None: parts go with MD5s


def composite_etag(part_md5s: list[bytes]) -> str:
    """The ETag S3 and OBS give a multipart object: MD5 of the parts' binary MD5s, '-' and the part count."""
    return f"{hashlib.md5(b''.join(part_md5s)).hexdigest()}-{len(part_md5s)}"


def new_http_session(profile: Profile, max_connections: int) -> HttpPool:
    """The connection pool for one endpoint's settings; must be used on one loop."""
    from launcher.storage.http11 import HttpPool

    https = urlsplit(profile.endpoint or "").scheme == "https"
    return HttpPool(
        https=https,
        ssl_context=ssl_context(profile) if https else None,
        connect_timeout_s=profile.connect_timeout_s,
        read_timeout_s=profile.read_timeout_s,
        max_connections=max_connections,
    )


class S3Client:
    """One endpoint, one connection pool. Use `async with S3Client(profile) as s3:`."""

    def __init__(
        self,
        profile: Profile,
        *,
        max_connections: int = 128,
        http: HttpPool | None = None,
        blocking: bool = False,
    ) -> None:
        """`http`: a connection pool shared with other clients (session.py's per-process pools); not closed here.
        `blocking`: send requests over bulk.py's http.client path (no event-loop pool): for a few requests in a row."""
        if profile.endpoint is None:
            raise StorageError("no S3 endpoint configured (set S3_ENDPOINT or a profile)")
        self.profile = profile
        self.endpoint = profile.endpoint
        parts = urlsplit(profile.endpoint)
        self._scheme = parts.scheme
        self._netloc = parts.netloc
        self._base_path = parts.path.rstrip("/")
        self._https = parts.scheme == "https"
        self._max_connections = max_connections
        self._session: HttpPool | None = http
        self._owns_session = http is None
        self._bulk: BulkClient | None = None
        self._requests: BulkClient | None = None  # the blocking transport's connections
        self.blocking = blocking
        self._proxies: dict[str, str | None] = {}
        self._buckets: dict[str, tuple[str, str]] = {}  # bucket -> (host, path prefix), see location()
        self._list_v1 = profile.list_version == "1"
        # Multipart uploads ask for a whole-object CRC unless told not to; "auto" stops asking once the store refuses.
        self._checksum = profile.checksum != "md5"
        source = chain.credential_source(profile)
        self.region = self.resolve_region(profile)
        self.signer = Signer(source, self.region) if source is not None else None
        self.retry = RetryPolicy(
            retries=profile.max_attempts - 1, base_delay_s=_BASE_DELAY_S, max_delay_s=_MAX_DELAY_S
        )
        self.health = EndpointHealth(give_up_after_s=max(self.retry.budget_s, 1.0))

    @staticmethod
    def resolve_region(profile: Profile) -> str:
        """Profile/environment, else the endpoint's host name, else the AWS config of the profile, else us-east-1."""
        return profile.region or profile.endpoint_region or chain.chain_region(profile) or "us-east-1"

    async def __aenter__(self) -> S3Client:
        self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _open(self) -> HttpPool:
        if self._session is None:
            self._session = new_http_session(self.profile, self._max_connections)
        return self._session

    def use_pool(self, http: HttpPool | None) -> None:
        """From now on send requests over the event-loop pool (many in flight): `http` a shared one, None: our own."""
        if not self.blocking:
            return
        self.blocking = False
        self._session, self._owns_session = http, http is None

    @property
    def bulk(self) -> BulkClient:
        """The threaded path for parts of large files (see bulk.py), sharing this client's settings."""
        if self._bulk is None:
            from launcher.storage.bulk import BulkClient

            self._bulk = BulkClient(self)
        return self._bulk

    def abort_bulk(self) -> None:
        """Stop the threaded part transfers now (on cancellation)."""
        if self._bulk is not None:
            self._bulk.abort()

    async def close(self) -> None:
        for threaded in (self._bulk, self._requests):
            if threaded is not None:
                threaded.close()
        self._bulk = self._requests = None
        if self._session is not None:
            if self._owns_session:
                await self._session.close()
            self._session = None

    # -- request plumbing -------------------------------------------------------------------------------

    def location(self, bucket: str, key: str) -> tuple[str, str]:
        """(host, encoded path) for a bucket/key under the profile's addressing style."""
        if not bucket:
            return self._netloc, self._base_path + "/"
        found = self._buckets.get(bucket)
        if found is None:  # once per bucket: the addressing decision parses the endpoint (and may an IP)
            if self.profile.use_path_style(bucket):
                found = self._buckets[bucket] = (self._netloc, f"{self._base_path}/{uri_encode_path(bucket)}/")
            else:
                found = self._buckets[bucket] = (f"{bucket}.{self._netloc}", f"{self._base_path}/")
        return found[0], found[1] + uri_encode_path(key)

    def proxy(self, host: str) -> str | None:
        """The forwarding proxy for `host` (HTTPS_PROXY/HTTP_PROXY/NO_PROXY), looked up once per host."""
        if host not in self._proxies:
            self._proxies[host] = proxy_for(self._scheme, urlsplit("//" + host).hostname or host)
        return self._proxies[host]

    def describe(self, bucket: str, key: str = "") -> str:
        return f"s3://{bucket}/{key} at {self.endpoint}"

    async def request(
        self,
        method: str,
        bucket: str,
        key: str = "",
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | memoryview = b"",
        ok: tuple[int, ...] = (200,),
    ) -> Response:
        """Send one request with retries; raise S3Error (typed) on a final failure."""
        if self.blocking:
            if self._requests is None:
                from launcher.storage.bulk import BulkClient

                # Its own connections: `abort_bulk` (a cancelled transfer) stops the parts, while the abort of
                # their multipart upload must still go out. Kept for the next client to this endpoint.
                self._requests = BulkClient(self, keep_connections=True)
            return await asyncio.to_thread(
                self._requests.request, method, bucket, key, params or {}, dict(headers or {}), body, ok
            )
        from launcher.storage.http11 import CertificateUntrusted

        pool = self._open()
        host, path = self.location(bucket, key)
        query = canonical_query(params) if params else ""
        target = f"{path}?{query}" if query else path
        payload_hash = self.payload_hash(body, headers)
        proxy = self.proxy(host)
        attempt = 0
        while True:
            attempt += 1
            send = dict(headers or {})
            send["Host"] = host
            if self.signer is not None:
                self.signer.sign(method, host, path, query, send, payload_hash)
            try:
                status, resp_headers, data = await pool.request(method, host, target, send, body, proxy=proxy)
            except CertificateUntrusted as exc:
                # Not a network fault: retrying cannot make the certificate trusted.
                raise self.untrusted(method, bucket, key, host, exc.reason) from None
            except OSError as exc:  # refused, reset, timed out, unresolvable, not HTTP: a network fault
                self.health.failed()
                reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
                if attempt >= self.retry.attempts or self.health.given_up:
                    raise S3Unavailable(f"{method} {self.describe(bucket, key)} failed: {reason}") from None
                await asyncio.sleep(self.retry.delay(attempt))
                continue
            self.health.succeeded()
            if status in ok and not error_in_200(method, status, data):
                return Response(status, resp_headers, data)
            code, message = error_code(data)
            if (status in RETRY_STATUS or code in RETRY_CODES) and attempt < self.retry.attempts:
                logger.debug("retrying {} {} after {} {}", method, key, status, code)
                await asyncio.sleep(self.retry.delay(attempt, retry_after_s(resp_headers)))
                continue
            raise self.error(method, bucket, key, status, code, message, headers=resp_headers, body=data)

    def untrusted(self, method: str, bucket: str, key: str, host: str, reason: object) -> S3Error:
        """The one line for a certificate the client does not trust (never retried: it cannot become trusted)."""
        return S3Error(
            f"{method} {self.describe(bucket, key)} failed: the TLS certificate of {host} is not trusted "
            f"({reason}); give the CA that signed it with AWS_CA_BUNDLE or ca_bundle in the storage profile"
        )

    def payload_hash(self, body: bytes | memoryview, headers: Mapping[str, str] | None) -> str:
        """What x-amz-content-sha256 says about the body.

        Unsigned when TLS protects it, or when Content-MD5 or a CRC header makes the server verify every byte
        (then a SHA-256 pass would only cost CPU: ~0.5 s per GiB here). Signed otherwise.
        """
        if self.signer is None or self._https:
            return UNSIGNED_PAYLOAD
        if body and headers is not None and any(name in headers for name in _BODY_CHECKS):
            return UNSIGNED_PAYLOAD
        return hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256

    def error(
        self,
        method: str,
        bucket: str,
        key: str,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> S3Error:
        where = self.describe(bucket, key)
        detail = f"{status} {code}".strip() + (f": {message}" if message else "")
        wrong_place = self._wrong_place(bucket, status, code, headers or {}, body)
        if wrong_place is not None:
            return WrongRegion(f"{method} {where} failed: {wrong_place}", status, code)
        if code in _CREDENTIAL_CODES or (status == 403 and not code):
            hint = "check ACCESS_KEY_ID/SECRET_ACCESS_KEY (or the profile) and the bucket's permissions"
            return S3CredentialsError(f"{method} {where} was refused ({detail}): {hint}", status, code)
        if code == "NoSuchBucket":
            return S3NotFound(f"bucket {bucket!r} does not exist at {self.endpoint}", status, code)
        if status == 404:
            return S3NotFound(f"not found: {where}", status, code or "NoSuchKey")
        if status in RETRY_STATUS or code in RETRY_CODES:
            return S3Unavailable(f"{method} {where} failed after retries ({detail})", status, code)
        return S3Error(f"{method} {where} failed ({detail})", status, code)

    def _wrong_place(
        self, bucket: str, status: int, code: str, headers: Mapping[str, str], body: bytes
    ) -> str | None:
        """Why a request went to the wrong region or endpoint, from what the server said, or None."""
        region = headers.get("x-amz-bucket-region", "")
        endpoint = ""
        if body:
            try:
                root = parse_xml(body)
            except S3Error:
                root = None
            if root is not None:
                region = child_text(root, "Region") or region
                endpoint = child_text(root, "Endpoint")
        hint = "set region in the storage profile or S3_REGION"
        if code == "AuthorizationHeaderMalformed" and region and region != self.region:
            return f"wrong region: the bucket's region is {region!r}, requests were signed for {self.region!r}: {hint}"
        if code in _REDIRECT_CODES or status in (301, 307):
            if endpoint:
                scheme = urlsplit(self.endpoint).scheme
                host = endpoint[len(bucket) + 1 :] if endpoint.startswith(bucket + ".") else endpoint
                return f"bucket {bucket!r} must be addressed through endpoint {scheme}://{host}" + (
                    f" (region {region!r})" if region else ""
                )
            if region:
                return f"wrong region: bucket {bucket!r} is in region {region!r}, not {self.region!r}: {hint}"
            return f"the server redirects bucket {bucket!r} elsewhere ({status} {code}); check the endpoint"
        if status == 400 and region and region != self.region:
            return f"wrong region: the bucket's region is {region!r}, requests were signed for {self.region!r}: {hint}"
        return None

    # -- object calls -----------------------------------------------------------------------------------

    async def head_object(self, bucket: str, key: str, *, with_checksum: bool = False) -> Response | None:
        """The object's headers, None if there is none; `with_checksum`: also its stored CRC (checksums.py)."""
        asked = {"x-amz-checksum-mode": "ENABLED"} if with_checksum else None
        try:
            return await self.request("HEAD", bucket, key, headers=asked)
        except S3NotFound:
            return None

    async def get_object(
        self, bucket: str, key: str, start: int | None = None, end: int | None = None, if_match: str = ""
    ) -> Response:
        """GET the object, or bytes [start, end) of it; `if_match` (an ETag) fails the read if it changed."""
        headers = {"If-Match": f'"{if_match}"'} if if_match else {}
        ok: tuple[int, ...] = (200,)
        if start is not None:
            headers["Range"] = f"bytes={start}-" + (str(end - 1) if end is not None else "")
            ok = (200, 206)
        return await self.request("GET", bucket, key, headers=headers, ok=ok)

    async def put_object(
        self,
        bucket: str,
        key: str,
        data: bytes | memoryview,
        metadata: Mapping[str, str] | None = None,
        content_md5: str | None = None,
    ) -> str:
        headers = {"Content-MD5": content_md5 or md5_b64(data), "Content-Type": "application/octet-stream"}
        for name, value in (metadata or {}).items():
            headers[f"x-amz-meta-{name}"] = value
        resp = await self.request("PUT", bucket, key, headers=headers, body=data)
        return resp.headers.get("ETag", "").strip('"')

    async def create_multipart_upload(
        self, bucket: str, key: str, metadata: Mapping[str, str] | None = None, *, checksum: bool = False
    ) -> MultipartUpload:
        """Start a multipart upload; `checksum`: ask for a whole-object CRC (profile `checksum`, checksums.py).

        The reply says whether the store took it (`x-amz-checksum-algorithm`): a store that ignores the
        header gets Content-MD5 parts. Under "auto", a store that refuses the header (400/501) is asked again
        without it, and never again by this client.
        """
        headers = {"Content-Type": "application/octet-stream"}
        for name, value in (metadata or {}).items():
            headers[f"x-amz-meta-{name}"] = value
        algorithm = checksums.UPLOAD_ALGORITHM if checksum and self._checksum else None
        asked = headers | (
            {"x-amz-checksum-algorithm": algorithm.upper(), "x-amz-checksum-type": "FULL_OBJECT"} if algorithm else {}
        )
        try:
            resp = await self.request("POST", bucket, key, params={"uploads": ""}, headers=asked)
        except S3Error as exc:
            if not algorithm or self.profile.checksum != "auto" or exc.status not in (400, 501):
                raise
            # Asked again without it: a refusal about something else fails here too, with its own error.
            resp = await self.request("POST", bucket, key, params={"uploads": ""}, headers=headers)
            logger.info(f"{self.describe(bucket, key)}: the store refused a {algorithm.upper()} checksum; MD5s instead")
            self._checksum, algorithm = False, None
        upload_id = child_text(parse_xml(resp.body), "UploadId")
        if not upload_id:
            raise S3Error(f"no UploadId in the reply for {self.describe(bucket, key)}")
        confirmed = bool(algorithm) and resp.headers.get("x-amz-checksum-algorithm", "").lower() == algorithm
        if algorithm and not confirmed and self.profile.checksum == "crc":
            await self.abort_multipart_upload(bucket, key, upload_id)
            raise S3Error(
                f"upload of {self.describe(bucket, key)}: the store did not confirm a {algorithm.upper()} checksum; "
                'set checksum = "md5" (or "auto") in the storage profile'
            )
        return MultipartUpload(upload_id, algorithm if confirmed else None)

    def stop_asking_for_checksums(self) -> None:
        """Multipart uploads of this client go with MD5s from now on (a store that half-supports CRCs)."""
        self._checksum = False

    async def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        data: bytes | memoryview,
        content_md5: str | None = None,
    ) -> str:
        resp = await self.request(
            "PUT",
            bucket,
            key,
            params={"partNumber": str(number), "uploadId": upload_id},
            headers={"Content-MD5": content_md5 or md5_b64(data)},
            body=data,
        )
        return resp.headers.get("ETag", "")

    async def upload_part_copy(
        self, bucket: str, key: str, upload_id: str, number: int, source: tuple[str, str], start: int, end: int
    ) -> str:
        resp = await self.request(
            "PUT",
            bucket,
            key,
            params={"partNumber": str(number), "uploadId": upload_id},
            headers={
                "x-amz-copy-source": "/" + uri_encode_path(f"{source[0]}/{source[1]}").lstrip("/"),
                "x-amz-copy-source-range": f"bytes={start}-{end - 1}",
            },
        )
        return '"' + child_text(parse_xml(resp.body), "ETag").strip('"') + '"'

    async def complete_multipart_upload(
        self, bucket: str, key: str, upload_id: str, etags: list[str], crcs: list[checksums.RunningCrc] | None = None
    ) -> str:
        """Join the parts; `crcs`: the parts' CRCs of an upload with a checksum (MultipartUpload.checksum)."""
        tag = f"Checksum{crcs[0].algorithm.upper()}" if crcs else ""
        parts = "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{escape(etag)}</ETag>"
            + (f"<{tag}>{checksums.encode(crcs[n - 1].value)}</{tag}>" if crcs else "")
            + "</Part>"
            for n, etag in enumerate(etags, 1)
        )
        body = f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()
        resp = await self.request(
            "POST", bucket, key, params={"uploadId": upload_id}, body=body, headers={"Content-MD5": md5_b64(body)}
        )
        root = parse_xml(resp.body)
        etag = child_text(root, "ETag").strip('"')
        # Each part was checked by the server against its Content-MD5 or CRC; this checks the assembled whole:
        # the server must have joined exactly those parts, in that order.
        digests = [_md5_of_etag(tag) for tag in etags]
        if etag and "-" in etag and all(d is not None for d in digests):
            expected = composite_etag([d for d in digests if d is not None])
            if etag.lower() != expected:
                raise S3Error(
                    f"upload of {self.describe(bucket, key)} is corrupt: the server assembled ETag {etag}, "
                    f"the {len(etags)} parts sent make {expected}"
                )
        stored = checksums.decode(child_text(root, tag)) if crcs else None
        if crcs and stored is not None and stored != (joined := checksums.combine_all(crcs)):
            raise S3Error(
                f"upload of {self.describe(bucket, key)} is corrupt: the server's whole-object {tag} is "
                f"{checksums.encode(stored)}, the {len(etags)} parts sent make {checksums.encode(joined)}"
            )
        return etag

    async def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        await self.request("DELETE", bucket, key, params={"uploadId": upload_id}, ok=(200, 204, 404))

    async def copy_object(
        self, src: tuple[str, str], bucket: str, key: str, metadata: Mapping[str, str] | None = None
    ) -> str:
        """Server-side copy; with `metadata` the copy gets that metadata instead of the source's."""
        headers = {"x-amz-copy-source": "/" + uri_encode_path(f"{src[0]}/{src[1]}")}
        if metadata is None:
            headers["x-amz-metadata-directive"] = "COPY"
        else:
            headers["x-amz-metadata-directive"] = "REPLACE"
            headers["Content-Type"] = "application/octet-stream"
            headers.update({f"x-amz-meta-{name}": value for name, value in metadata.items()})
        resp = await self.request("PUT", bucket, key, headers=headers)
        return child_text(parse_xml(resp.body), "ETag").strip('"')

    async def delete_object(self, bucket: str, key: str) -> None:
        await self.request("DELETE", bucket, key, ok=(200, 204))

    async def delete_objects(self, bucket: str, keys: list[str]) -> dict[str, str]:
        """Delete up to 1000 keys in one call; returns {key: error} for the ones the server refused."""
        items = "".join(f"<Object><Key>{escape(k)}</Key></Object>" for k in keys)
        body = f"<Delete><Quiet>true</Quiet>{items}</Delete>".encode()
        resp = await self.request(
            "POST", bucket, "", params={"delete": ""}, body=body, headers={"Content-MD5": md5_b64(body)}
        )
        errors: dict[str, str] = {}
        for node in parse_xml(resp.body):
            if node.tag.endswith("Error"):
                errors[child_text(node, "Key")] = f"{child_text(node, 'Code')}: {child_text(node, 'Message')}"
        return errors

    async def list_objects(
        self, bucket: str, prefix: str = "", delimiter: str = "", max_keys: int = 1000
    ) -> AsyncIterator[tuple[list[ListedObject], list[str]]]:
        """Pages of (objects, common prefixes) under `prefix`, in key order.

        ListObjectsV2 unless the profile forces v1 (list_version = 1) or the server turns out not to honour
        v2 (it answers in v1's shape, or refuses `list-type`): then v1 with `marker`, as OBS documents it.
        """
        token = ""
        marker = ""
        while True:
            params = {"prefix": prefix, "encoding-type": "url", "max-keys": str(max_keys)}
            if delimiter:
                params["delimiter"] = delimiter
            if self._list_v1:
                if marker:
                    params["marker"] = marker
            else:
                params["list-type"] = "2"
                if token:
                    params["continuation-token"] = token
            try:
                resp = await self.request("GET", bucket, "", params=params)
            except S3Error as exc:
                if self._list_v1 or exc.status not in (400, 501) or exc.code not in ("InvalidArgument", "NotImplemented"):
                    raise
                logger.debug("{} refused ListObjectsV2 ({}); listing with v1", self.endpoint, exc.code)
                self._list_v1 = True
                continue
            root = parse_xml(resp.body, "ListBucketResult")
            if not self._list_v1 and root.find(NS + "KeyCount") is None and root.find("KeyCount") is None:
                # A v1 reply to a v2 request: the server ignored list-type=2 (no continuation tokens follow).
                logger.debug("{} answered ListObjectsV2 in v1 form; listing with v1", self.endpoint)
                self._list_v1 = True
            encoded = child_text(root, "EncodingType") == "url"
            decode = unquote_plus if encoded else (lambda s: s)
            objects = [
                ListedObject(
                    key=decode(child_text(node, "Key")),
                    size=int(child_text(node, "Size", "0")),
                    mtime=datetime.fromisoformat(child_text(node, "LastModified")).timestamp(),
                    etag=child_text(node, "ETag").strip('"'),
                )
                for node in children(root, "Contents")
            ]
            prefixes = [decode(child_text(node, "Prefix")) for node in children(root, "CommonPrefixes")]
            yield objects, prefixes
            if child_text(root, "IsTruncated") != "true":
                return
            if self._list_v1:
                # NextMarker is only sent with a delimiter; else the last key is the marker (both URL-encoded).
                following = decode(child_text(root, "NextMarker")) or max(
                    [o.key for o in objects] + prefixes, default=""
                )
                if not following or following <= marker:
                    raise S3Error(f"the listing of {self.describe(bucket, prefix)} does not advance (marker {following!r})")
                marker = following
            else:
                token = child_text(root, "NextContinuationToken")
                if not token:
                    raise S3Error(f"the listing of {self.describe(bucket, prefix)} is truncated without a continuation token")

    # -- buckets ----------------------------------------------------------------------------------------

    async def create_bucket(self, bucket: str) -> None:
        await self.request("PUT", bucket, "", ok=(200,))

    async def bucket_exists(self, bucket: str) -> bool:
        try:
            await self.request("HEAD", bucket, "")
        except S3NotFound:
            return False
        return True



def _md5_of_etag(etag: str) -> bytes | None:
    """The binary MD5 a plain part ETag holds, or None when it is not one (SSE-KMS, a server's own scheme)."""
    text = etag.strip().strip('"')
    if len(text) != 32:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None

