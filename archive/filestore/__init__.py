"""The file store: one interface, an S3 back-end and a local-filesystem back-end, chosen by FILESTORE_TYPE."""

from functools import lru_cache

from django.conf import settings

from archive.filestore.base import FileStore, FileStoreNotFound, FileStoreUnavailable

__all__ = ["FileStore", "FileStoreNotFound", "FileStoreUnavailable", "get_filestore"]


@lru_cache(maxsize=4)
def _filestore(kind: str) -> FileStore:
    if kind == "s3":
        from archive.filestore.s3 import S3FileStore

        return S3FileStore()
    from archive.filestore.local import LocalFileStore

    return LocalFileStore()


def get_filestore() -> FileStore:
    """The configured store, one instance per process (its client and signer are reused across requests)."""
    return _filestore(settings.FILESTORE_TYPE)


def reset_filestore() -> None:
    """Forget the per-process store (tests that change the S3 settings)."""
    _filestore.cache_clear()
