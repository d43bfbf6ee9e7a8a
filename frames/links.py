"""Download URLs of versions and thumbnails for one request: presigned S3 URLs or signed local links."""

import time
from urllib.parse import quote

from django.conf import settings
from django.urls import reverse

from archive.filestore import get_filestore
from archive.filestore.local import make_download_token


class DownloadLinks:
    """Built once per request, so the store, the user and the base URL are looked up once per page."""

    def __init__(self, request):
        self.store = get_filestore()
        self.expires = settings.DOWNLOAD_URL_EXPIRY_SECONDS
        self.request = request
        user = getattr(request, "user", None)
        self.user_id = user.id if user is not None and user.is_authenticated else None
        # Hour-rounded so that a link stays the same for an hour (cache-friendly) and expires at most an hour early.
        self.issued = int(time.time()) // 3600 * 3600
        self._base = request.build_absolute_uri("/").rstrip("/") if request is not None else ""
        self._local_pattern = None

    def _local(self, kind: str, object_id: int, filename: str) -> str:
        token = make_download_token(kind=kind, object_id=object_id, user_id=self.user_id, issued=self.issued)
        if self._local_pattern is None:
            # reverse() once a request: each call costs several thread-local look-ups, a third of a local page.
            self._local_pattern = self._base + reverse(
                "frames:download", kwargs={"token": "{token}", "filename": "{filename}"}
            ).replace("%7B", "{").replace("%7D", "}")
        # Quoted as reverse() quotes path arguments.
        return self._local_pattern.format(token=token, filename=quote(filename, safe="!$&'()*+,;=/~:@"))

    def version_url(self, frame, version) -> str:
        filename = f"{frame.basename}{version.extension}"
        if self.store.kind == "s3":
            return self.store.url(version.store_path, version.key, expires=self.expires)
        return self._local("v", version.id, filename)

    def thumbnail_url(self, thumbnail) -> str:
        filename = f"{thumbnail.basename}{thumbnail.extension}"
        if self.store.kind == "s3":
            return self.store.url(thumbnail.store_path, thumbnail.key, expires=self.expires)
        return self._local("t", thumbnail.id, filename)
