"""The local-filesystem back-end (the embedded default): every version kept, written atomically."""

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core import signing
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import FileSystemStorage

from archive.filestore.base import CHUNK_SIZE, FileStore, FileStoreNotFound, FileStoreUnavailable

TOKEN_SALT = "frames.download"


class LocalFileStore(FileStore):
    kind = "local"

    def __init__(self, root: Path | None = None):
        self.root = Path(root or settings.FILESTORE_LOCAL_ROOT).resolve()
        # Django's storage resolves names under the root and refuses any that escape it.
        self._storage = FileSystemStorage(location=self.root)

    def _version_path(self, path: str, version_id: str) -> Path:
        """`{root}/{path}/{version}`, confined to the root whatever the path holds."""
        if not version_id or "/" in version_id or version_id in (".", ".."):
            raise FileStoreNotFound(path)
        try:
            return Path(self._storage.path(f"{path}/{version_id}"))
        except SuspiciousFileOperation:
            raise FileStoreNotFound(path) from None

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
        version_id = uuid.uuid4().hex
        target = self._version_path(path, version_id)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, prefix=".upload-") as tmp:
                while chunk := fileobj.read(CHUNK_SIZE):
                    tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp.name, target)
        except OSError as exc:
            raise FileStoreUnavailable() from exc
        return version_id

    def open(self, path: str, version_id: str, *, byte_range: tuple[int, int] | None = None) -> Iterator[bytes]:
        full = self._version_path(path, version_id)
        try:
            handle = open(full, "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError:
            raise FileStoreNotFound(path) from None
        except OSError as exc:
            raise FileStoreUnavailable() from exc
        return self._chunks(handle, byte_range)

    @staticmethod
    def _chunks(handle: BinaryIO, byte_range: tuple[int, int] | None) -> Iterator[bytes]:
        with handle:
            remaining = None
            if byte_range:
                handle.seek(byte_range[0])
                remaining = byte_range[1] - byte_range[0] + 1
            while remaining is None or remaining > 0:
                chunk = handle.read(CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining))
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def local_path(self, path: str, version_id: str) -> Path:
        """Where one version lies on disk, for readers that need a file (the datalab's inputs)."""
        full = self._version_path(path, version_id)
        if not full.is_file():
            raise FileStoreNotFound(path)
        return full

    def size(self, path: str, version_id: str) -> int:
        try:
            return self._version_path(path, version_id).stat().st_size
        except FileNotFoundError:
            raise FileStoreNotFound(path) from None

    def delete(self, path: str, version_id: str) -> None:
        self._version_path(path, version_id).unlink(missing_ok=True)

    def check(self) -> dict:
        return {
            "reachable": os.access(self.root if self.root.exists() else self.root.parent, os.W_OK),
            "versioning": True,
        }


def make_download_token(*, kind: str, object_id: int, user_id: int | None, issued: int) -> str:
    """A signed capability for one stored object, issued to one user (or anonymous) at an hour-rounded time.

    A plain Signer, not signing.dumps (whose TimestampSigner adds the current second): the issue time inside is
    rounded, so the same link comes back all hour, which keeps pages cacheable.
    """
    return signing.Signer(salt=TOKEN_SALT).sign_object([kind, object_id, user_id, issued])


def read_download_token(token: str) -> tuple[str, int, int | None, int]:
    kind, object_id, user_id, issued = signing.Signer(salt=TOKEN_SALT).unsign_object(token)
    return kind, int(object_id), user_id, int(issued)
