"""Our SigV4 signer against AWS's published example and against botocore for arbitrary keys."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import mock

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from launcher.storage.sigv4 import EMPTY_SHA256, Signer, canonical_query, uri_encode_path

AK = "AKIAIOSFODNN7EXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_matches_the_aws_documented_get_object_example() -> None:
    # "GET Object" example of the S3 SigV4 header-auth documentation.
    headers = {"Range": "bytes=0-9"}
    Signer.static(AK, SK, "us-east-1").sign(
        "GET",
        "examplebucket.s3.amazonaws.com",
        "/test.txt",
        "",
        headers,
        EMPTY_SHA256,
        now=datetime(2013, 5, 24, tzinfo=UTC),
    )
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


keys = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(key=keys, prefix=keys)
def test_signature_equals_botocore_for_any_key_and_query(key: str, prefix: str) -> None:
    now = datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
    host = "127.0.0.1:9000"
    path = "/bucket/" + uri_encode_path(key)
    params = {"list-type": "2", "prefix": prefix}
    query = canonical_query(params)
    ours = {"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="}
    Signer.static(AK, SK, "cn-north-4").sign("PUT", host, path, query, ours, EMPTY_SHA256, now=now)

    request = AWSRequest(
        method="PUT",
        url=f"http://{host}{path}?{query}",
        headers={"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==", "X-Amz-Content-SHA256": EMPTY_SHA256},
    )
    auth = S3SigV4Auth(Credentials(AK, SK), "s3", "cn-north-4")
    with mock.patch("botocore.auth.get_current_datetime", return_value=now.replace(tzinfo=None)):
        auth.add_auth(request)
    assert (
        ours["Authorization"].rsplit("Signature=", 1)[1] == request.headers["Authorization"].rsplit("Signature=", 1)[1]
    )


def test_secret_never_in_repr() -> None:
    assert SK not in repr(Signer.static(AK, SK, "us-east-1"))
