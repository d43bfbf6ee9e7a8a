"""Presigned S3 GET URLs in a few microseconds: AWS SigV4 query authentication written out with hashlib and hmac.

Measured by `python -m bench.presign` (a 100-frame page signs 100 URLs; 2 cores, busy): boto3's
`generate_presigned_url`, which re-runs the endpoint rules for every URL, 200-300 us a URL (20-30 ms a page);
botocore's `S3SigV4QueryAuth` alone, fed a ready URL, 105-175 us a URL (10-17 ms a page), most of it in its per-call
request machinery (URL splitting and re-joining, query parsing and re-encoding, header handling, the signing key's
four HMACs). This module: 5 us a URL with static keys, 14-17 us with refreshable credentials, 10 us of which is
botocore's own check whether a refresh is due. That is 10-16 ms a page saved against the faster of the two, the
presigner's reason to exist; were it under 2 ms, botocore's signer would do.

A presigned GET differs from the next only in its key and version id, so this module does the arithmetic itself:

- the bucket's base URL, the signing region and the service are taken once from a URL the client presigns itself
  (path-style or virtual-host, whatever the client's configuration gives);
- per credentials, expiry and second, the auth part of the query string, the string-to-sign's prefix and the derived
  signing key (cached per secret, day, region and service) are computed once;
- per URL there remain the key's and version id's percent-encoding, one SHA-256 and one HMAC.

The credentials are botocore's own credentials object, as `Session.get_credentials()` hands it out (the one the
client signs with): it is frozen on every call through its public `get_frozen_credentials()`, which refreshes
temporary credentials (`RefreshableCredentials`) when they near their expiry, so a refresh is picked up at once. A
failed refresh raises botocore's error (a `BotoCoreError`, or a `ClientError` from STS) to the caller.

The tests (archive/tests/test_filestore.py) hold the URLs byte-for-byte equal to `generate_presigned_url`'s at a
frozen time, for awkward keys and 500 seeded random ones, session tokens, both addressing styles and other regions,
and fetch objects through them from the moto S3 server (which checks their path and version id, though not their
signature).
"""

import functools
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from botocore.credentials import Credentials
from botocore.exceptions import NoCredentialsError

_SENTINEL_KEY = "presign-base-probe"
_ALGORITHM = "AWS4-HMAC-SHA256"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _query_value(value: str) -> str:
    """RFC 3986 encoding of a query key or value: everything but letters, digits and -._~ (UTF-8 first)."""
    return quote(value, safe="-_.~")


@functools.lru_cache(maxsize=16)
def _signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    """The SigV4 signing key, a chain of four HMACs that depends only on these four values."""
    key = f"AWS4{secret}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


class Presigner:
    """Presigned GET URLs of one bucket's objects, signed with `credentials` (a botocore `Credentials`, refreshable or
    not) for the endpoint, addressing style and region `client` sends its requests to."""

    def __init__(self, client: Any, bucket: str, credentials: Credentials | None) -> None:
        if credentials is None:  # what `get_credentials()` answers when the chain found none: refused as botocore does
            raise NoCredentialsError()
        self._credentials = credentials
        probe = urlsplit(client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": _SENTINEL_KEY}))
        query = {name: values[0] for name, values in parse_qs(probe.query).items()}
        if query.get("X-Amz-Algorithm") != _ALGORITHM or query.get("X-Amz-SignedHeaders") != "host":
            raise ValueError(f"The S3 client does not presign with SigV4 over the host header alone: {query}")
        # The credential scope is access-key/day/region/service/aws4_request; the region is the one botocore signs
        # for, which is not always the client's region_name.
        self._region, self._service = query["X-Amz-Credential"].split("/")[-3:-1]
        self._origin = f"{probe.scheme}://{probe.netloc}"
        self._path = probe.path[: -len(_SENTINEL_KEY)]
        # The Host header as signed: without the port when it is the scheme's default.
        host = probe.hostname if probe.port == _DEFAULT_PORTS.get(probe.scheme) else probe.netloc
        self._canonical_tail = f"host:{host}\n\nhost\nUNSIGNED-PAYLOAD"
        # ((second, expires, credentials), state): one tuple, swapped whole, so threads never see half of it.
        self._state: tuple = (None, None)

    def url(self, key: str, version_id: str | None, expires: int, *, filename: str | None = None) -> str:
        """The presigned GET URL of the key (of that version, if given), valid for `expires` seconds from now.

        `filename` is accepted and ignored, as before: the URL carries no response-content-disposition override."""
        auth_query, canonical_auth_query, string_to_sign_prefix, signing_key = self._signing_state(expires)
        path = self._path + quote(key, safe="/~")
        if version_id:
            # Operation parameters come first in the URL; in the canonical (sorted) query string "versionId" sorts
            # after every "X-Amz-" name.
            version = f"versionId={_query_value(version_id)}"
            query = f"{version}&{auth_query}"
            canonical_query = f"{canonical_auth_query}&{version}"
        else:
            query, canonical_query = auth_query, canonical_auth_query
        canonical_request = f"GET\n{path}\n{canonical_query}\n{self._canonical_tail}"
        string_to_sign = string_to_sign_prefix + hashlib.sha256(canonical_request.encode()).hexdigest()
        signature = hmac.digest(signing_key, string_to_sign.encode(), "sha256").hex()
        return f"{self._origin}{path}?{query}&X-Amz-Signature={signature}"

    def _signing_state(self, expires: int) -> tuple[str, str, str, bytes]:
        """Everything but the key's and version's share of the signature, for the current credentials, expiry and
        second: the auth query string in URL order and in canonical order, the string-to-sign's prefix, the key."""
        credentials = self._credentials.get_frozen_credentials()
        now = int(time.time())
        cache_key = (now, expires, credentials)
        cached_key, state = self._state
        if cached_key == cache_key:
            return state
        timestamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        day = timestamp[:8]
        scope = f"{day}/{self._region}/{self._service}/aws4_request"
        params = [
            ("X-Amz-Algorithm", _ALGORITHM),
            ("X-Amz-Credential", f"{credentials.access_key}/{scope}"),
            ("X-Amz-Date", timestamp),
            ("X-Amz-Expires", str(expires)),
            ("X-Amz-SignedHeaders", "host"),
        ]
        if credentials.token is not None:
            params.append(("X-Amz-Security-Token", credentials.token))
        encoded = [(_query_value(name), _query_value(value)) for name, value in params]
        state = (
            "&".join(f"{name}={value}" for name, value in encoded),
            "&".join(f"{name}={value}" for name, value in sorted(encoded)),
            f"{_ALGORITHM}\n{timestamp}\n{scope}\n",
            _signing_key(credentials.secret_key, day, self._region, self._service),
        )
        self._state = (cache_key, state)
        return state
