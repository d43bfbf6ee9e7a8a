"""Size and CRC-32 of every stored version, recorded once, so that a zip of them can be laid out before its first byte
(and so served in ranges and resumed: docs/frames.md, "Zip").

Files archived through `POST /frames/upload/` or `ingest_fits` are measured while they are read for their md5. Files
the ingester uploaded itself are read once afterwards by a periodic task (`frames.record_checksums`, every
CHECKSUM_SWEEP_SECONDS) and, for an archive that predates the column, by the `record_checksums` command. Reading a
file also checks it against its recorded md5: a file that no longer matches is logged and left unmeasured, so it is
never offered for a resumable zip.
"""

import hashlib
import logging
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import connections

from archive.filestore import FileStoreNotFound, FileStoreUnavailable, get_filestore
from frames.models import Version

logger = logging.getLogger(__name__)

WRITER = "default"
# One sweep at a time across workers: a PostgreSQL advisory lock (the cache may be down).
SWEEP_LOCK_ID = 7_351_260_843
READ_THREADS = 8


@dataclass(frozen=True)
class Checksum:
    size: int
    crc32: int
    md5: str


class ChecksumReader:
    """Size, CRC-32 and md5 of bytes as they go by: fed chunk by chunk while a file is read for another reason."""

    def __init__(self) -> None:
        self.size = 0
        self.crc = 0
        self.digest = hashlib.md5()

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.crc = zlib.crc32(chunk, self.crc)
        self.digest.update(chunk)

    def result(self) -> Checksum:
        return Checksum(self.size, self.crc & 0xFFFFFFFF, self.digest.hexdigest())


def checksum_of(chunks: Iterable[bytes]) -> Checksum:
    reader = ChecksumReader()
    for chunk in chunks:
        reader.update(chunk)
    return reader.result()


@dataclass
class SweepResult:
    measured: int = 0
    mismatched: int = 0
    unreadable: int = 0


def _measure(version: Version) -> tuple[Version, Checksum | None, str]:
    try:
        found = checksum_of(get_filestore().open(version.store_path, version.key))
    except (FileStoreNotFound, FileStoreUnavailable) as exc:
        return version, None, str(exc)
    return version, found, ""


def versions_measure(versions: list[Version], result: SweepResult | None = None) -> SweepResult:
    """Read each version once (a few at a time) and record its size and CRC-32 when its md5 matches."""
    result = result or SweepResult()
    if not versions:
        return result
    measured = []
    with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(versions)), thread_name_prefix="checksum") as pool:
        for version, found, problem in pool.map(_measure, versions):
            if found is None:
                result.unreadable += 1
                logger.info("Checksum of version %s not recorded: %s", version.id, problem)
            elif found.md5 != version.md5:
                result.mismatched += 1
                logger.error(
                    "Version %s (%s) reads with md5 %s, not the recorded %s; not measured",
                    version.id,
                    version.store_path,
                    found.md5,
                    version.md5,
                )
            else:
                version.size, version.crc32 = found.size, found.crc32
                measured.append(version)
    Version.objects.using(WRITER).bulk_update(measured, ["size", "crc32"])
    result.measured += len(measured)
    return result


def unmeasured_versions(limit: int, *, below_id: int | None = None) -> list[Version]:
    """Versions without a CRC-32, newest first (what was just ingested is what is asked for next); `below_id` goes
    on from where a walk over the archive stopped."""
    versions = Version.objects.using(WRITER).filter(crc32__isnull=True)
    if below_id is not None:
        versions = versions.filter(id__lt=below_id)
    return list(versions.only("id", "store_path", "key", "md5", "size").order_by("-id")[:limit])


def checksums_sweep(*, limit: int | None = None) -> SweepResult:
    """Measure up to `limit` unmeasured versions (CHECKSUM_SWEEP_BATCH); one sweep at a time across workers."""
    limit = limit or settings.CHECKSUM_SWEEP_BATCH
    with connections[WRITER].cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [SWEEP_LOCK_ID])
        if not cursor.fetchone()[0]:
            return SweepResult()
        try:
            return versions_measure(unmeasured_versions(limit))
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [SWEEP_LOCK_ID])
