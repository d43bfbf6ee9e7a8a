"""The file-store interface and its errors; every read names a version, never a bucket's current object."""

from collections.abc import Iterator
from typing import BinaryIO

from archive.exceptions import ServiceUnavailable

CHUNK_SIZE = 1024 * 1024


class FileStoreUnavailable(ServiceUnavailable):
    default_detail = "The file store cannot be reached; try again later."


class FileStoreNotFound(Exception):
    """The named object version does not exist in the store."""


class FileStore:
    kind = ""

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
        """Store a new version of `path` and return its version id."""
        raise NotImplementedError

    def open(self, path: str, version_id: str, *, byte_range: tuple[int, int] | None = None) -> Iterator[bytes]:
        """The bytes of one version, in chunks; `byte_range` is inclusive (first, last)."""
        raise NotImplementedError

    def size(self, path: str, version_id: str) -> int:
        raise NotImplementedError

    def delete(self, path: str, version_id: str) -> None:
        raise NotImplementedError

    def check(self) -> dict:
        """Whether the store answers (and keeps versions)."""
        raise NotImplementedError
