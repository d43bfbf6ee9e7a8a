"""Where datalab products are kept (the `datalab` entry of Django's STORAGES) and the URLs they are read through:
presigned S3 URLs, or signed, expiring links to this server for the local directory."""

import time
from urllib.parse import quote

from botocore.config import Config
from django.conf import settings
from django.core import signing
from django.core.files.storage import FileSystemStorage, storages
from django.urls import reverse
from storages.backends.s3 import S3Storage

from archive.filestore.s3 import addressing_style

LINK_SALT = "datalab.product"


class ProductS3Storage(S3Storage):
    """django-storages' S3 back-end with the archive's S3 settings: addressing style, timeouts and retries."""

    def get_default_settings(self):
        defaults = super().get_default_settings()
        defaults["client_config"] = Config(
            signature_version="s3v4",
            connect_timeout=settings.S3_CONNECT_TIMEOUT_SECONDS,
            read_timeout=settings.S3_READ_TIMEOUT_SECONDS,
            retries={"max_attempts": settings.S3_MAX_ATTEMPTS, "mode": "standard"},
            s3={"addressing_style": addressing_style()},
        )
        return defaults


def product_storage():
    return storages["datalab"]


def product_key(run_key: str, filename: str) -> str:
    return f"datalab/{run_key}/{filename}"


def sign_url(storage_key: str, *, expires: int, base_url: str) -> tuple[str, int]:
    """(URL, expiry as a Unix time) for one stored product, valid `expires` seconds."""
    valid_until = int(time.time()) + expires
    storage = product_storage()
    if isinstance(storage, FileSystemStorage):
        token = signing.Signer(salt=LINK_SALT).sign_object([storage_key, valid_until])
        filename = storage_key.rsplit("/", 1)[-1]
        path = reverse("datalab:product-file", kwargs={"token": token, "filename": filename})
        return f"{base_url}{quote(path, safe='/:~')}", valid_until
    return storage.url(storage_key, expire=expires), valid_until


def read_link(token: str) -> str | None:
    """The storage key a local link names, or None when it is forged or expired."""
    try:
        storage_key, valid_until = signing.Signer(salt=LINK_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(storage_key, str) or int(valid_until) < time.time():
        return None
    return storage_key
