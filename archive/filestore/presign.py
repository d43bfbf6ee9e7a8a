"""Presigned S3 GET URLs in microseconds: botocore's own SigV4 query signer, without per-call endpoint resolution.

boto3's `generate_presigned_url` re-runs endpoint rules for every URL (the reference paid 25-65 ms a page for it).
The bucket's base URL cannot change within a process, so it is resolved once from the client; each URL is then a
botocore `AWSRequest` for that base plus the key, signed by `S3SigV4QueryAuth` with the client's current credentials.
"""

from urllib.parse import urlsplit

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.utils import percent_encode

_SENTINEL_KEY = "presign-base-probe"


class _QueryAuth(S3SigV4QueryAuth):
    """botocore's query signer, keeping the derived SigV4 signing key for the day instead of re-deriving it with
    four HMACs per URL (the key depends only on the secret, the date, the region and the service)."""

    _signing_keys: dict[tuple[str, str, str, str], bytes] = {}

    def signature(self, string_to_sign, request):
        secret = self.credentials.secret_key
        day = request.context["timestamp"][0:8]
        cache_key = (secret, day, self._region_name, self._service_name)
        signing_key = self._signing_keys.get(cache_key)
        if signing_key is None:
            k_date = self._sign(f"AWS4{secret}".encode(), day)
            k_region = self._sign(k_date, self._region_name)
            k_service = self._sign(k_region, self._service_name)
            signing_key = self._sign(k_service, "aws4_request")
            if len(self._signing_keys) > 32:
                self._signing_keys.clear()
            self._signing_keys[cache_key] = signing_key
        return self._sign(signing_key, string_to_sign, hex=True)


class Presigner:
    def __init__(self, client, bucket: str):
        self._client = client
        self._credentials = client._request_signer._credentials
        self._region = client.meta.region_name
        probe = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": _SENTINEL_KEY})
        parts = urlsplit(probe)
        path = parts.path[: -len(_SENTINEL_KEY)]
        self._base = f"{parts.scheme}://{parts.netloc}{path}"
        self._signers: dict = {}

    def url(self, key: str, version_id: str | None, expires: int, *, filename: str | None = None) -> str:
        url = self._base + percent_encode(key, safe="/~")
        params = {"versionId": version_id} if version_id else {}
        request = AWSRequest(method="GET", url=url, params=params)
        self._signer(expires).add_auth(request)
        # add_auth leaves the finished URL (query string and signature) on the request: no prepare() needed.
        return request.url

    def _signer(self, expires: int) -> _QueryAuth:
        """One signer per expiry and set of credentials; temporary credentials that refresh get a new one."""
        credentials = self._credentials.get_frozen_credentials()
        cache_key = (credentials, expires)
        signer = self._signers.get(cache_key)
        if signer is None:
            if len(self._signers) > 8:
                self._signers.clear()
            signer = self._signers[cache_key] = _QueryAuth(credentials, "s3", self._region, expires=expires)
        return signer
