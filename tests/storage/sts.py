"""Temporary keys from SeaweedFS's STS (AssumeRole), and a `credential_process` that hands them to botocore.

    python tests/storage/sts.py ENDPOINT [--duration S] [--ca CA.pem] [--count FILE]

prints the credential_process JSON (Version 1) for one fresh AssumeRole with the server's static keys;
--count appends a line to FILE per call, so a test can see how often botocore refreshed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import ssl
import sys
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's launcher, whatever the cwd

from launcher.storage.credentials import FrozenCredentials, StaticCredentials  # noqa: E402
from tests.seaweed import ACCESS_KEY, ROLE_ARN, SECRET_KEY  # noqa: E402
from launcher.storage.sigv4 import Signer  # noqa: E402


def assume_role(endpoint: str, duration_s: int | None = None, ca: str | None = None) -> dict[str, str]:
    """AccessKeyId, SecretAccessKey, SessionToken, Expiration of a fresh temporary identity."""
    params = {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": ROLE_ARN, "RoleSessionName": "launcher-test"}
    if duration_s is not None:
        params["DurationSeconds"] = str(duration_s)
    body = urlencode(params).encode()
    host = urlsplit(endpoint).netloc
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    static = StaticCredentials(FrozenCredentials(ACCESS_KEY, SECRET_KEY))
    Signer(static, "us-east-1", service="sts").sign("POST", host, "/", "", headers, hashlib.sha256(body).hexdigest())
    context = ssl.create_default_context(cafile=ca) if ca else None
    request = urllib.request.Request(endpoint + "/", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10, context=context) as resp:
        root = ET.fromstring(resp.read())
    found = {el.tag.rsplit("}", 1)[-1]: el.text or "" for el in root.iter()}
    return {k: found[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint")
    parser.add_argument("--duration", type=int)
    parser.add_argument("--ca")
    parser.add_argument("--count")
    args = parser.parse_args()
    keys = assume_role(args.endpoint, args.duration, args.ca)
    if args.count:
        with open(args.count, "a") as fh:
            fh.write("call\n")
    print(json.dumps({"Version": 1, **keys}))


if __name__ == "__main__":
    main()
