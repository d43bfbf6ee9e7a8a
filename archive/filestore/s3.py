"""The S3 back-end: a versioned bucket on AWS or any S3-compatible endpoint (MinIO, Ceph, moto)."""

import ipaddress
import logging
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from archive.filestore.base import CHUNK_SIZE, FileStore, FileStoreNotFound, FileStoreUnavailable
from archive.filestore.presign import Presigner

logger = logging.getLogger(__name__)

NOT_FOUND_CODES = {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}
# A version id S3 cannot parse names nothing that exists: for a read that is "not found". A delete must not take it
# for "already gone": the deletion is kept (and shown to staff) instead of being dropped.
READ_NOT_FOUND_CODES = NOT_FOUND_CODES | {"InvalidArgument"}
# The archive's own credentials or policy are at fault: an outage to report (503), not the caller's error.
CREDENTIAL_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AllAccessDisabled",
    "AccountProblem",
}


def addressing_style() -> str:
    """Path style for IP and localhost endpoints (MinIO, Ceph, moto) unless configured otherwise."""
    style = settings.S3_ADDRESSING_STYLE
    if style in ("path", "virtual"):
        return style
    host = urlsplit(settings.S3_ENDPOINT_URL).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return "path"
    try:
        ipaddress.ip_address(host)
        return "path"
    except ValueError:
        pass
    if "." in settings.AWS_BUCKET and settings.S3_ENDPOINT_URL.startswith("https"):
        return "path"
    return "auto"


class S3FileStore(FileStore):
    kind = "s3"

    def __init__(self, *, session: boto3.session.Session | None = None):
        """`session`: the boto3 session whose credentials the store uses (by default a new one, which finds them
        by botocore's usual chain: environment, shared files, container or instance roles)."""
        self.bucket = settings.AWS_BUCKET
        self._lock = threading.Lock()
        self._session = session
        self._client: Any = None
        self._credentials: Any = None
        self._presigner: Presigner | None = None

    @property
    def client(self) -> Any:
        """One client per process, made on first use (never at import time)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    config = Config(
                        signature_version="s3v4",
                        connect_timeout=settings.S3_CONNECT_TIMEOUT_SECONDS,
                        read_timeout=settings.S3_READ_TIMEOUT_SECONDS,
                        retries={"max_attempts": settings.S3_MAX_ATTEMPTS, "mode": "standard"},
                        s3={"addressing_style": addressing_style()},
                        max_pool_connections=20,
                    )
                    session = self._session or boto3.session.Session()
                    client = session.client(
                        "s3",
                        region_name=settings.AWS_DEFAULT_REGION,
                        endpoint_url=settings.S3_ENDPOINT_URL or None,
                        config=config,
                    )
                    # The very object the client signs with (the session resolved it for the client and keeps it),
                    # refreshable ones included; asked once, so that a store without credentials does not walk the
                    # provider chain (instance metadata and all) again on every page.
                    self._credentials = session.get_credentials()
                    self._client = client
        return self._client

    @property
    def presigner(self) -> Presigner:
        if self._presigner is None:
            client = self.client
            if self._credentials is None:
                logger.error("Cannot presign S3 URLs: botocore found no credentials for the file store")
                raise FileStoreUnavailable(
                    "The file store has no credentials (none in the environment, the shared files or an instance "
                    "role); try again later."
                )
            self._presigner = Presigner(client, self.bucket, self._credentials)
        return self._presigner

    def url(self, path: str, version_id: str, *, expires: int) -> str:
        try:
            return self.presigner.url(path, version_id, expires)
        # Credentials that failed to refresh: botocore's own errors, or STS's refusal (a ClientError) when they
        # come from an assumed role. Anything else is a bug, and stays a 500.
        except (BotoCoreError, ClientError) as exc:
            logger.error("Cannot presign S3 URLs: %r", exc)
            raise FileStoreUnavailable("The file store's credentials are missing or invalid; try again later.") from exc

    def _call(self, method: str, *, not_found: set[str] = READ_NOT_FOUND_CODES, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in not_found or (status == 404 and code not in CREDENTIAL_CODES):
                raise FileStoreNotFound(kwargs.get("Key", "")) from exc
            if code in CREDENTIAL_CODES or status == 403:
                logger.error("S3 refused the archive's credentials for %s: %s", method, code)
                raise FileStoreUnavailable(
                    "The file store refused the archive's credentials; try again later."
                ) from exc
            if status >= 500 or code in ("SlowDown", "ServiceUnavailable", "RequestTimeout"):
                raise FileStoreUnavailable() from exc
            raise
        except BotoCoreError as exc:
            logger.warning("S3 call %s failed: %s", method, exc)
            raise FileStoreUnavailable() from exc

    def put(
        self,
        path: str,
        fileobj: BinaryIO,
        *,
        md5: str,
        size: int,
        content_type: str = "application/octet-stream",
        content_disposition: str = "",
        storage_class: str | None = None,
    ) -> str:
        import base64

        extra: dict[str, Any] = {}
        if content_disposition:
            extra["ContentDisposition"] = content_disposition
        if storage_class:
            extra["StorageClass"] = storage_class
        response = self._call(
            "put_object",
            Key=path,
            Body=fileobj,
            ContentLength=size,
            ContentMD5=base64.b64encode(bytes.fromhex(md5)).decode(),
            ContentType=content_type,
            **extra,
        )
        version_id = response.get("VersionId")
        if not version_id or version_id == "null":
            raise FileStoreUnavailable(
                f"The bucket {self.bucket} returned no version id; enable versioning on it before archiving."
            )
        return version_id

    def open(self, path: str, version_id: str, *, byte_range: tuple[int, int] | None = None) -> Iterator[bytes]:
        extra: dict[str, Any] = {"Range": f"bytes={byte_range[0]}-{byte_range[1]}"} if byte_range else {}
        body = self._call("get_object", Key=path, VersionId=version_id, **extra)["Body"]
        return self._chunks(body)

    @staticmethod
    def _chunks(body: Any) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(CHUNK_SIZE)
        except BotoCoreError as exc:
            raise FileStoreUnavailable() from exc
        finally:
            body.close()

    def size(self, path: str, version_id: str) -> int:
        return self._call("head_object", Key=path, VersionId=version_id)["ContentLength"]

    def delete(self, path: str, version_id: str) -> None:
        self._call("delete_object", Key=path, VersionId=version_id, not_found=NOT_FOUND_CODES)

    def check(self) -> dict:
        status = self._call("get_bucket_versioning").get("Status")
        return {"reachable": True, "versioning": status == "Enabled"}
