"""Bytes of archived files for users: zip members, decompressed FITS and catalogs, read from the file store."""

import csv
import datetime
import hashlib
import io
import logging
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.conf import settings

from archive.filestore import FileStoreNotFound, FileStoreUnavailable, get_filestore
from archive.ziplayout import Entry, StoredZip
from archive.zipstream import Member, MemberSkipped, MemberUnavailable, sized_length
from frames import fitsops
from frames.checksums import Checksum, ChecksumReader
from frames.models import Frame, VersionRow
from frames.services import version_sizes_fill
from frames.values import format_datetime

logger = logging.getLogger(__name__)

CATALOG_REDUCTION_LEVEL = 91
CATALOG_CONFIGURATION_TYPE = "EXPOSE"


def current_version(frame: Frame):
    return frame.prefetched_versions[0]


def _open_version(version) -> Iterator[bytes]:
    try:
        return get_filestore().open(version.store_path, version.key)
    except (FileStoreNotFound, FileStoreUnavailable) as exc:
        raise MemberUnavailable(str(exc)) from exc


def zip_directory(count: int) -> str:
    today = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d")
    return f"{settings.ZIP_DOWNLOAD_FILENAME_BASE}-{today}-{count}"


def _decompressed(version, uncompress: bool) -> bool:
    return uncompress and version.extension == ".fits.fz"


def _catalog(frame: Frame, catalog_only: bool) -> bool:
    return (
        catalog_only
        and frame.reduction_level == CATALOG_REDUCTION_LEVEL
        and frame.configuration_type == CATALOG_CONFIGURATION_TYPE
    )


def stored_as_is(frames: list[Frame], *, uncompress: bool, catalog_only: bool) -> bool:
    """Whether every member of the zip is a current version as stored, so that its length can be known up front."""
    return not any(
        _decompressed(current_version(frame), uncompress) or _catalog(frame, catalog_only) for frame in frames
    )


def zip_members(
    frames: list[Frame], *, directory: str, uncompress: bool, catalog_only: bool, sizes: dict[int, int] | None = None
) -> list[Member]:
    """The reference's rules: the current version as stored; with `uncompress` a .fits.fz decompressed to .fits; else
    with `catalog_only`, a processed EXPOSE frame's catalog, left out when it has none. `sizes` gives the sizes of
    versions whose rows do not have them."""
    sizes = sizes or {}
    members = []
    for frame in frames:
        version = current_version(frame)
        if _decompressed(version, uncompress):
            members.append(
                Member(
                    f"{directory}/{frame.basename}.fits",
                    lambda v=version: fitsops.decompressed(_open_version(v)),
                )
            )
        elif _catalog(frame, catalog_only):
            members.append(Member(f"{directory}/{frame.basename}-catalog.fits", lambda v=version: _catalog_member(v)))
        else:
            members.append(
                Member(
                    f"{directory}/{frame.basename}{version.extension}",
                    lambda v=version: _open_version(v),
                    size=version.size if version.size is not None else sizes.get(version.id),
                )
            )
    return members


def _catalog_member(version) -> list[bytes]:
    try:
        return [fitsops.catalog(_open_version(version))]
    except fitsops.NoCatalog:
        raise MemberSkipped() from None


def funpacked(frame: Frame) -> tuple[str, Iterator[bytes]]:
    """(filename, chunks) of the frame's current file, decompressed when it is a .fits.fz."""
    version = current_version(frame)
    chunks = get_filestore().open(version.store_path, version.key)
    if version.extension == ".fits.fz":
        return f"{frame.basename}.fits", fitsops.decompressed(chunks)
    return f"{frame.basename}{version.extension}", chunks


def catalog_file(frame: Frame) -> tuple[str, bytes]:
    version = current_version(frame)
    return f"{frame.basename}-catalog.fits", fitsops.catalog(get_filestore().open(version.store_path, version.key))


# The manifest's columns (MANIFEST.csv); md5sums.txt lists the same files as `md5sum -c` reads them.
MANIFEST_COLUMNS = (
    "filename",
    "basename",
    "version_id",
    "size",
    "md5",
    "observation_date",
    "proposal_id",
    "primary_optical_element",
    "instrument_id",
    "site_id",
)


@dataclass
class Listed:
    """A member as the manifest lists it: its file name inside the zip's directory, and what it was made from."""

    filename: str
    frame: Frame
    version: VersionRow
    checksum: Checksum | None = None  # size and md5 of the member's bytes; None until known


def _listed(frames: list[Frame], members: list[Member]) -> list[Listed]:
    """The members as the manifest lists them: `zip_members` makes one member a frame, in the frames' order."""
    return [
        Listed(member.arcname.split("/", 1)[1], frame, current_version(frame))
        for frame, member in zip(frames, members, strict=True)
    ]


def manifest_files(directory: str, listed: list[Listed]) -> list[tuple[str, bytes]]:
    """MANIFEST.csv and md5sums.txt of the members whose checksum is known (all of them, unless some could not be
    read)."""
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    sums = []
    for item in listed:
        if item.checksum is None:
            continue
        frame = item.frame
        writer.writerow(
            [
                item.filename,
                frame.basename,
                item.version.id,
                item.checksum.size,
                item.checksum.md5,
                format_datetime(frame.observation_date),
                frame.proposal_id,
                frame.primary_optical_element,
                frame.instrument_id,
                frame.site_id,
            ]
        )
        sums.append(f"{item.checksum.md5}  {item.filename}\n")
    return [
        (f"{directory}/MANIFEST.csv", table.getvalue().encode()),
        (f"{directory}/md5sums.txt", "".join(sums).encode()),
    ]


def _measuring(member: Member, item: Listed) -> Member:
    """The member, its size and md5 measured as it streams (for members made while the zip is built)."""

    def opened() -> Iterator[bytes]:
        chunks = member.open()
        reader = ChecksumReader()

        def measured() -> Iterator[bytes]:
            for chunk in chunks:
                reader.update(chunk)
                yield chunk
            item.checksum = reader.result()

        return measured()

    return Member(member.arcname, opened, member.size)


@dataclass
class ZipPlan:
    """What a zip download will hold: its directory name, its members, the files that follow them (MANIFEST.csv and
    md5sums.txt, built once the members are known or read), and its length when known up front."""

    directory: str
    members: list[Member]
    length: int | None
    trailer: Callable[[list[str]], list[tuple[str, bytes]]] | None = None


def zip_plan(frames: list[Frame], *, uncompress: bool, catalog_only: bool) -> ZipPlan:
    """The zip of these frames' current files by the reference's rules, with a manifest. When every member is a
    stored file as is, the sizes the ingest did not give are asked of the store once (and kept), so that the zip
    announces its length and its manifest is written from the versions' md5s; otherwise members are measured as they
    stream and the manifest follows them."""
    directory = zip_directory(len(frames))
    sizes = None
    as_is = stored_as_is(frames, uncompress=uncompress, catalog_only=catalog_only)
    if as_is:
        sizes = version_sizes_fill(versions=[current_version(frame) for frame in frames])
    members = zip_members(frames, directory=directory, uncompress=uncompress, catalog_only=catalog_only, sizes=sizes)
    listed = _listed(frames, members)
    if as_is and all(member.size is not None for member in members):
        for item, member in zip(listed, members, strict=True):
            item.checksum = Checksum(member.size or 0, item.version.crc32 or 0, item.version.md5)
        files = manifest_files(directory, listed)
        static = [Member(name, lambda data=data: [data], len(data)) for name, data in files]
        return ZipPlan(directory=directory, members=members + static, length=sized_length(members + static))
    measured = [_measuring(member, item) for member, item in zip(members, listed, strict=True)]
    return ZipPlan(
        directory=directory, members=measured, length=None, trailer=lambda missing: manifest_files(directory, listed)
    )


@dataclass
class RangedZip:
    """A zip laid out up front (archive.ziplayout): served with its length, in ranges, under a strong ETag."""

    directory: str
    layout: StoredZip
    etag: str


def _read_range(version: VersionRow) -> Callable[[int, int], Iterator[bytes]]:
    def read(start: int, end: int) -> Iterator[bytes]:
        try:
            return get_filestore().open(version.store_path, version.key, byte_range=(start, end - 1))
        except (FileStoreNotFound, FileStoreUnavailable) as exc:
            raise MemberUnavailable(str(exc)) from exc

    return read


def ranged_zip(frames: list[Frame]) -> RangedZip | None:
    """The zip of these frames' current files as stored, laid out up front; None unless every file's size and
    CRC-32 are recorded (frames.checksums). Its bytes depend only on the versions: the directory is named after the
    newest version's day, not today, so that a download resumed tomorrow continues the same archive."""
    versions = [current_version(frame) for frame in frames]
    if not versions or any(version.size is None or version.crc32 is None for version in versions):
        return None
    newest = max(version.created for version in versions)
    directory = f"{settings.ZIP_DOWNLOAD_FILENAME_BASE}-{newest:%Y%m%d}-{len(frames)}"
    listed = []
    entries = []
    for frame, version in zip(frames, versions, strict=True):
        filename = f"{frame.basename}{version.extension}"
        size = version.size or 0
        listed.append(Listed(filename, frame, version, Checksum(size, version.crc32 or 0, version.md5)))
        entries.append(Entry(f"{directory}/{filename}", size, version.crc32 or 0, _read_range(version)))
    for name, data in manifest_files(directory, listed):
        entries.append(Entry(name, len(data), zlib.crc32(data), lambda start, end, data=data: [data[start:end]]))
    identity = "\n".join(f"{entry.name} {entry.size} {entry.crc32}" for entry in entries)
    identity += "\n" + "\n".join(version.key for version in versions)
    etag = '"' + hashlib.sha256(identity.encode()).hexdigest()[:40] + '"'
    return RangedZip(directory, StoredZip(entries, modified=newest), etag)
