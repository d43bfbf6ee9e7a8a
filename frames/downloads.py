"""Bytes of archived files for users: zip members, decompressed FITS and catalogs, read from the file store."""

import datetime
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings

from archive.filestore import FileStoreNotFound, FileStoreUnavailable, get_filestore
from archive.zipstream import Member, MemberSkipped, MemberUnavailable, sized_length
from frames import fitsops
from frames.models import Frame
from frames.services import version_sizes_fill

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


@dataclass
class ZipPlan:
    """What a zip download will hold: its directory name, its members, and its length when known up front."""

    directory: str
    members: list[Member]
    length: int | None


def zip_plan(frames: list[Frame], *, uncompress: bool, catalog_only: bool) -> ZipPlan:
    """The zip of these frames' current files by the reference's rules; when every member is a stored file as is,
    the sizes the ingest did not give are asked of the store once (and kept), so that the zip announces its length."""
    directory = zip_directory(len(frames))
    sizes = None
    if stored_as_is(frames, uncompress=uncompress, catalog_only=catalog_only):
        sizes = version_sizes_fill(versions=[current_version(frame) for frame in frames])
    members = zip_members(frames, directory=directory, uncompress=uncompress, catalog_only=catalog_only, sizes=sizes)
    return ZipPlan(directory=directory, members=members, length=sized_length(members))
