"""Server-side ingest: a FITS file's headers read and cleaned, the file stored at the ingester's path, and the frame
archived through the same service as `POST /frames/`, so its record and notification are the same."""

import datetime
import logging
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from archive import portal
from archive.exceptions import Conflict
from archive.filestore import FileStoreUnavailable, get_filestore
from frames import fitsmeta, services
from frames.checksums import Checksum, ChecksumReader
from frames.columns import FRAME_FIELDS
from frames.models import Frame, Version
from frames.paths import store_path
from frames.serializers import ONLY_FITS_FILES, FrameIngestSerializer

logger = logging.getLogger(__name__)

WRITER = "default"


NOT_FITS = "The file is not a readable FITS file."
STORE_UNREACHABLE = "The file store cannot be reached; nothing was archived."
FITS_CONTENT_TYPE = "image/fits"
MD5_CHUNK_BYTES = 1024 * 1024
# Body fields whose errors are named by the keyword they were read from; the basename comes from the file's name.
ERROR_NAMES = {field.name: field.keyword for field in FRAME_FIELDS} | {"basename": "file"}


class FileAlreadyArchived(Conflict):
    """The file's md5 is already a version of a frame: 409 naming the frame."""

    def __init__(self, frame_id: int):
        super().__init__(f"This file is already archived as frame {frame_id}.")
        self.frame_id = frame_id
        # A dict detail is rendered as it is, so the frame id stays a number.
        self.detail = {"detail": self.detail, "frame": frame_id}


@dataclass
class FitsIngestResult:
    body: dict  # the body the ingester would have POSTed (JSON natives), with its version once stored
    store_path: str
    frame_id: int | None = None  # None for a dry run
    frame: Frame | None = None  # as frame_ingest left it (IngestResult.frame)


def file_checksum(fileobj: BinaryIO) -> Checksum:
    """md5, size and CRC-32 of a file read once from its start (`ingest_fits`; uploads are measured while they
    spool)."""
    reader = ChecksumReader()
    fileobj.seek(0)
    while chunk := fileobj.read(MD5_CHUNK_BYTES):
        reader.update(chunk)
    return reader.result()


def _archived_frame(md5: str) -> int | None:

    return Version.objects.using(WRITER).filter(md5=md5).values_list("frame_id", flat=True).first()


def _storage_class(observation_date: datetime.datetime) -> str | None:
    """The ingester's choice: data observed over S3_DAYS_TO_IA_STORAGE days ago goes straight to STANDARD_IA.
    Empty: no class is sent, so stores without storage classes (MinIO) keep their default."""
    days = str(settings.S3_DAYS_TO_IA_STORAGE).strip()
    if not days:
        return None
    if observation_date < timezone.now() - datetime.timedelta(days=int(days)):
        return "STANDARD_IA"
    return "STANDARD"


def _discard_stored(*, path: str, key: str) -> None:
    """Remove a version whose ingest failed, unless its row was committed after all (then the file is needed)."""

    store = get_filestore()
    try:
        if Version.objects.using(WRITER).filter(key=key).exists():
            return
    except (OperationalError, InterfaceError):
        # Whether the ingest committed cannot be known now; a stray file is harmless, a lost one is not.
        logger.error("Database unreachable; keeping stored version %s of %s for an operator to check", key, path)
        return
    try:
        store.delete(path, key)
    except Exception:
        logger.exception("Could not delete stored version %s of %s after a failed ingest", key, path)
    else:
        logger.warning("Deleted stored version %s of %s after a failed ingest", key, path)


def fits_ingest(
    *,
    fileobj: BinaryIO,
    filename: str,
    md5: str | None = None,
    size: int | None = None,
    crc32: int | None = None,
    metadata: dict | None = None,
    dry_run: bool = False,
) -> FitsIngestResult:
    """Archive a FITS file as the ingester would: derive its body, store the file, `frame_ingest` it.

    `metadata` overrides header keywords. Validation errors name the keyword; an archived md5 is a 409
    (FileAlreadyArchived) before anything is read or stored. The file is stored before the database transaction (the
    version id goes into the row) and deleted again if the ingest fails, so call this outside a transaction.
    """
    basename, extension = fitsmeta.split_filename(filename)
    if not fitsmeta.is_fits_filename(filename):
        raise ValidationError({"file": [ONLY_FITS_FILES]})
    if md5 is None or size is None or crc32 is None:
        measured = file_checksum(fileobj)
        md5, size, crc32 = measured.md5, measured.size, measured.crc32
    archived = _archived_frame(md5)
    if archived is not None:
        raise FileAlreadyArchived(archived)

    rules = fitsmeta.Rules.from_settings(settings)
    try:
        raw = fitsmeta.read_header(fileobj, required=rules.required_headers, overrides=metadata)
    except fitsmeta.NotFitsError:
        raise ValidationError({"file": [NOT_FITS]}) from None
    except fitsmeta.MissingHeadersError as exc:
        raise ValidationError({"detail": str(exc), "missing": exc.missing}) from None
    tags = None
    if not fitsmeta.is_set(raw, "L1PUBDAT"):
        tags = portal.proposal_tags(str(raw.get("PROPID") or ""))
    try:
        header = fitsmeta.clean_header(raw, basename=basename, extension=extension, rules=rules, proposal_tags=tags)
    except fitsmeta.HeaderError as exc:
        raise ValidationError({exc.keyword: [exc.message]}) from None
    body = fitsmeta.ingest_body(header, basename=basename, rules=rules)
    serializer = FrameIngestSerializer(data=body)
    if not serializer.is_valid():
        raise ValidationError({ERROR_NAMES.get(field, field): errors for field, errors in serializer.errors.items()})
    data = serializer.validated_data
    path = store_path(
        basename=basename,
        extension=extension,
        site_id=data["site_id"],
        instrument_id=data["instrument_id"],
        observation_day=data["observation_day"],
        reduction_level=data["reduction_level"],
        configuration_type=data["configuration_type"],
        headers=data["headers"],
    )
    if dry_run:
        return FitsIngestResult(body=body, store_path=path)

    store = get_filestore()
    fileobj.seek(0)
    try:
        key = store.put(
            path,
            fileobj,
            md5=md5,
            size=size,
            content_type=FITS_CONTENT_TYPE,
            content_disposition=f"attachment; filename={basename}{extension}",
            storage_class=_storage_class(data["observation_date"]),
        )
    except FileStoreUnavailable as exc:
        if str(exc.detail) == FileStoreUnavailable.default_detail:  # keep specific reasons (bucket versioning)
            raise FileStoreUnavailable(STORE_UNREACHABLE) from exc
        raise
    version = {"key": key, "md5": md5, "extension": extension, "size": size, "crc32": crc32}
    try:
        result = services.frame_ingest(data={**data, "version_set": [version]})
    except Exception:
        _discard_stored(path=path, key=key)
        archived = _archived_frame(md5)
        if archived is not None:  # a concurrent ingest of the same file won
            raise FileAlreadyArchived(archived) from None
        raise
    logger.debug("Archived %s%s as frame %s at %s", basename, extension, result.frame_id, path)
    return FitsIngestResult(
        body={**body, "version_set": [version]}, store_path=path, frame_id=result.frame_id, frame=result.frame
    )
