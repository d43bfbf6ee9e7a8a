"""Writes of the frames app: ingest of frames and thumbnails, in a fixed number of statements."""

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import InterfaceError, OperationalError, connections, transaction
from django.db.backends.utils import CursorWrapper
from rest_framework.exceptions import ValidationError

from archive.exceptions import ServiceUnavailable
from archive.filestore import FileStoreNotFound, FileStoreUnavailable, get_filestore
from frames.aggregates import aggregates_note_frame
from frames.columns import FRAME_FIELDS
from frames.fields import footprint_geometry
from frames.models import Frame, Headers, Thumbnail, Version, VersionRow
from frames.notifications import outbox_publish_later, write_notification
from frames.paths import store_path

logger = logging.getLogger(__name__)

T = TypeVar("T")

WRITER = "default"
# The ingest's SQL names its tables through the models, so a renamed table cannot leave it behind.
FRAME_TABLE = Frame._meta.db_table
VERSION_TABLE = Version._meta.db_table
HEADERS_TABLE = Headers._meta.db_table
THUMBNAIL_TABLE = Thumbnail._meta.db_table
RELATED_TABLE = Frame.related_frames.through._meta.db_table
MAX_ATTEMPTS = 3
RETRYABLE_PGCODES = {"40P01", "40001"}  # deadlock detected, serialization failure

# Columns the ingest body may set, with the value a new row gets when the body leaves one out.
FRAME_DEFAULTS = {field.name: field.default for field in FRAME_FIELDS} | {"area": None}


# File store look-ups at once when a zip needs the sizes of versions archived without one.
SIZE_LOOKUP_THREADS = 8

MD5_EXISTS = "version with this md5 already exists."
KEY_EXISTS = "version with this key already exists."


@dataclass
class IngestResult:
    frame_id: int
    versions_added: int
    created: bool
    # The frame as the ingest's own statements left it, its versions and related ids attached: what the 201 body
    # shows, without reading it back (and so without any replica lag).
    frame: Frame | None = None


def _frame_values(data: dict) -> dict:
    """The columns present in a validated body, converted for SQL."""
    values = {name: data[name] for name in FRAME_DEFAULTS if name in data}
    if "area" in values:
        geometry = footprint_geometry(values["area"])
        values["area"] = geometry.hexewkb.decode() if geometry is not None else None
    return values


PATH_COLUMNS = ("site_id", "instrument_id", "observation_day", "reduction_level", "configuration_type")
# What the frame's insert or upsert returns: the columns of the record shape, object paths' among them.
# In the model's field order, which Frame.from_db expects.
RECORD_COLUMNS = tuple(
    field.attname
    for field in Frame._meta.concrete_fields
    if field.attname in ("id", "basename") or (field.attname in FRAME_DEFAULTS and field.attname != "area")
)


def _upsert_frame(
    cursor: CursorWrapper, *, basename: str, values: dict, only_fill_placeholder: bool = False
) -> tuple[dict, bool]:
    """Insert or update the frame row by basename; the row lock serialises concurrent ingests of one frame.

    Columns in `values` replace the stored ones; the others keep theirs (defaults on creation). With
    `only_fill_placeholder`, an existing frame is updated only while it is still a placeholder. Returns the stored
    row's RECORD_COLUMNS and whether the row was written.
    """
    columns = list(FRAME_DEFAULTS)
    params = [basename] + [values.get(name, FRAME_DEFAULTS[name]) for name in columns]
    placeholders = ", ".join("%s::geography" if name == "area" else "%s" for name in columns)
    updates = [f"{name} = EXCLUDED.{name}" for name in columns if name in values] + ["modified = now()"]
    where = f" WHERE {FRAME_TABLE}.observation_date IS NULL" if only_fill_placeholder else ""
    cursor.execute(
        f"INSERT INTO {FRAME_TABLE} (basename, {', '.join(columns)}, created, modified) "
        f"VALUES (%s, {placeholders}, now(), now()) "
        f"ON CONFLICT (basename) DO UPDATE SET {', '.join(updates)}{where} "
        f"RETURNING true, {', '.join(RECORD_COLUMNS)}",
        params,
    )
    row = cursor.fetchone()
    if row is None:  # an existing, non-placeholder frame that must not change
        cursor.execute(f"SELECT false, {', '.join(RECORD_COLUMNS)} FROM {FRAME_TABLE} WHERE basename = %s", [basename])
        row = cursor.fetchone()
    return dict(zip(RECORD_COLUMNS, row[1:], strict=True)), row[0]


VERSION_COLUMNS = ", ".join(VersionRow._fields)


def _add_versions(
    cursor: CursorWrapper, *, frame_id: int, basename: str, versions: list[dict], path_fields: dict
) -> tuple[list[str], list[VersionRow]]:
    """Insert the posted versions that are new; replays are ignored, md5 or key clashes are 400s.

    Returns the md5s added, in posted order, and all the frame's versions newest first (the frame's row lock, taken
    by its insert or upsert, keeps other ingests from adding any meanwhile). One statement reads the frame's versions
    and the clashing ones, so that the count stays fixed whether or not versions are posted.
    """
    cursor.execute(
        f"SELECT {VERSION_COLUMNS} FROM {VERSION_TABLE} WHERE frame_id = %s OR md5 = ANY(%s) OR key = ANY(%s)",
        [frame_id, [v["md5"] for v in versions], [v["key"] for v in versions]],
    )
    known = [VersionRow(*row) for row in cursor.fetchall()]
    by_md5 = {row.md5: (row.frame_id, row.key) for row in known}
    by_key = {row.key: (row.frame_id, row.md5) for row in known}
    errors, new = [], []
    for item in versions:
        clash = by_md5.get(item["md5"])
        if clash is not None:
            errors.append({} if clash == (frame_id, item["key"]) else {"md5": [MD5_EXISTS]})
        elif item["key"] in by_key:
            errors.append({"key": [KEY_EXISTS]})
        else:
            errors.append({})
            new.append(item)
    if any(errors):
        raise ValidationError({"version_set": errors})
    own = [row for row in known if row.frame_id == frame_id]
    if not new:
        return [], _newest_first(own)
    rows = []
    for item in new:
        path = store_path(basename=basename, extension=item["extension"], **path_fields)
        # Size and CRC-32 come only from a server-side ingest, which measured the file (the ingester's body has none).
        rows.append((frame_id, item["key"], item["md5"], item["extension"], path, item.get("size"), item.get("crc32")))
    values_sql = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, now())"] * len(rows))
    cursor.execute(
        f"INSERT INTO {VERSION_TABLE} (frame_id, key, md5, extension, store_path, size, crc32, created) "
        f"VALUES {values_sql} ON CONFLICT DO NOTHING RETURNING {VERSION_COLUMNS}",
        [value for row in rows for value in row],
    )
    inserted = [VersionRow(*row) for row in cursor.fetchall()]
    inserted_md5s = {row.md5 for row in inserted}
    if len(inserted) < len(new):
        # A concurrent ingest archived the same md5 or key between our check and our insert.
        raise ValidationError(
            {
                "version_set": [
                    {} if item not in new or item["md5"] in inserted_md5s else {"md5": [MD5_EXISTS]}
                    for item in versions
                ]
            }
        )
    return [item["md5"] for item in new], _newest_first(own + inserted)


def _newest_first(versions: list[VersionRow]) -> list[VersionRow]:
    """The order of every version list: -created, -id."""
    return sorted(versions, key=lambda row: (row.created, row.id), reverse=True)


def _replace_headers(cursor: CursorWrapper, *, frame_id: int, headers: dict, keep_existing: bool = False) -> None:
    conflict = "DO NOTHING" if keep_existing else "DO UPDATE SET data = EXCLUDED.data"
    cursor.execute(
        f"INSERT INTO {HEADERS_TABLE} (frame_id, data) VALUES (%s, %s::jsonb) ON CONFLICT (frame_id) {conflict}",
        [frame_id, json.dumps(headers, allow_nan=False)],
    )


def _insert_frame_and_missing(
    cursor: CursorWrapper, *, basename: str, values: dict, related: list[str]
) -> tuple[set[str], dict | None]:
    """The frame's row with the body's values and placeholders for unknown related names, where missing.

    All names go in one statement in sorted order (a multi-row VALUES is inserted in its order), before any other
    write: concurrent ingests that share names then wait for each other in the same order instead of deadlocking (each
    holding a name the other needs). A new frame is thus written once, not as a placeholder that the upsert then
    rewrites with every index. Returns the names inserted, and the frame's RECORD_COLUMNS when it was new.
    """
    columns = list(FRAME_DEFAULTS)
    row_sql = "(%s, " + ", ".join("%s::geography" if name == "area" else "%s" for name in columns) + ", now(), now())"
    own = [values.get(name, FRAME_DEFAULTS[name]) for name in columns]
    placeholder = [FRAME_DEFAULTS[name] for name in columns]
    names = sorted({basename, *related})
    cursor.execute(
        f"INSERT INTO {FRAME_TABLE} (basename, {', '.join(columns)}, created, modified) "
        f"VALUES {', '.join([row_sql] * len(names))} "
        f"ON CONFLICT (basename) DO NOTHING RETURNING {', '.join(RECORD_COLUMNS)}",
        [value for name in names for value in (name, *(own if name == basename else placeholder))],
    )
    rows = [dict(zip(RECORD_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
    return {row["basename"] for row in rows}, next((row for row in rows if row["basename"] == basename), None)


def _link_related(cursor: CursorWrapper, *, frame_id: int, names: list[str]) -> list[int]:
    """Both link directions in one insert, in sorted order; links are only ever added. Returns the ids of every frame
    linked to this one, new links and earlier ones (other frames may have named this one), in id order."""
    cursor.execute(
        "WITH added AS ("
        f"  INSERT INTO {RELATED_TABLE} (from_frame_id, to_frame_id) "
        "  SELECT a, b FROM ("
        f"    SELECT %(id)s::bigint AS a, id AS b FROM {FRAME_TABLE} WHERE basename = ANY(%(names)s)"
        f"    UNION ALL SELECT id, %(id)s::bigint FROM {FRAME_TABLE} WHERE basename = ANY(%(names)s)"
        "  ) AS links WHERE a <> b ORDER BY a, b "
        "  ON CONFLICT (from_frame_id, to_frame_id) DO NOTHING RETURNING from_frame_id, to_frame_id"
        ") "
        # The statement's snapshot does not see its own inserts: the new links come from RETURNING.
        "SELECT to_frame_id FROM added WHERE from_frame_id = %(id)s "
        f"UNION SELECT to_frame_id FROM {RELATED_TABLE} WHERE from_frame_id = %(id)s ORDER BY 1",
        {"id": frame_id, "names": names},
    )
    return [row[0] for row in cursor.fetchall()]


def _with_retries(work: Callable[[], T]) -> T:
    """Run `work` in a transaction; deadlocks and serialization failures are retried, then a 503."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with transaction.atomic(using=WRITER):
                return work()
        except OperationalError as exc:
            pgcode = getattr(exc.__cause__, "pgcode", None)
            if pgcode not in RETRYABLE_PGCODES:
                raise
            logger.warning("Ingest attempt %d hit %s; retrying", attempt, pgcode)
    raise ServiceUnavailable("The archive is busy with conflicting ingests; try again.", retry_after=5)


def frame_ingest(*, data: dict) -> IngestResult:
    """Archive a frame from a validated ingest body: idempotent by basename and md5."""

    def work() -> IngestResult:
        related = data.get("related_frame_filenames") or []
        with connections[WRITER].cursor() as cursor:
            values = _frame_values(data)
            inserted, stored = _insert_frame_and_missing(
                cursor, basename=data["basename"], values=values, related=related
            )
            if stored is None:  # known already (archived, or a placeholder): the body's fields replace the stored ones
                stored, _ = _upsert_frame(cursor, basename=data["basename"], values=values)
            frame_id = stored["id"]
            added_md5s, versions = _add_versions(
                cursor,
                frame_id=frame_id,
                basename=data["basename"],
                versions=data["version_set"],
                path_fields={**{name: stored[name] for name in PATH_COLUMNS}, "headers": data["headers"]},
            )
            _replace_headers(cursor, frame_id=frame_id, headers=data["headers"])
            related_ids = _link_related(cursor, frame_id=frame_id, names=related)
            message = write_notification(cursor, frame_id=frame_id, data=data, added_md5s=added_md5s)
        if message is not None:
            transaction.on_commit(lambda: outbox_publish_later(message=message), using=WRITER)
        transaction.on_commit(lambda: aggregates_note_frame(values=data), using=WRITER)
        frame = Frame.from_db(WRITER, RECORD_COLUMNS, [stored[name] for name in RECORD_COLUMNS])
        frame.prefetched_versions = versions
        frame.prefetched_related_ids = related_ids
        frame.prefetched_thumbnails = []
        return IngestResult(
            frame_id=frame_id, versions_added=len(added_md5s), created=data["basename"] in inserted, frame=frame
        )

    return _with_retries(work)


def thumbnail_ingest(*, data: dict) -> tuple[int, int]:
    """Archive a thumbnail; returns (thumbnail id, parent frame id).

    The parent is the frame named `frame_basename`; when unknown, it is made from the body's fields and headers,
    without a version, so that the frame's own later POST fills it in and notifies once.
    """

    def work() -> tuple[int, int]:
        version = data["version_set"][0]
        with connections[WRITER].cursor() as cursor:
            values = _frame_values(data)
            _, parent = _insert_frame_and_missing(cursor, basename=data["frame_basename"], values=values, related=[])
            filled = parent is not None
            if parent is None:  # known already: its fields are filled in only while it is a placeholder
                parent, filled = _upsert_frame(
                    cursor, basename=data["frame_basename"], values=values, only_fill_placeholder=True
                )
            parent_id = parent["id"]
            if filled:
                _replace_headers(cursor, frame_id=parent_id, headers=data["headers"], keep_existing=True)
            # The thumbnail's path is made from its own body, as the ingester made it for the upload.
            path_fields: dict[str, Any] = {name: data.get(name, FRAME_DEFAULTS[name]) for name in PATH_COLUMNS}
            path = store_path(basename=data["basename"], extension=version["extension"], **path_fields)
            cursor.execute(
                f"INSERT INTO {THUMBNAIL_TABLE} (frame_id, size, basename, extension, key, store_path, created) "
                "VALUES (%s, %s, %s, %s, %s, %s, now()) ON CONFLICT (basename) DO UPDATE SET "
                "frame_id = EXCLUDED.frame_id, size = EXCLUDED.size, extension = EXCLUDED.extension, "
                "key = EXCLUDED.key, store_path = EXCLUDED.store_path RETURNING id",
                [parent_id, data["size"], data["basename"], version["extension"], version["key"], path],
            )
            return cursor.fetchone()[0], parent_id

    return _with_retries(work)


def version_sizes_fill(*, versions: list[VersionRow]) -> dict[int, int]:
    """Sizes of versions whose size is unknown (POST /frames/ does not carry it), asked of the file store a few at a
    time and kept on the rows, so that the next zip of them knows its length without asking. Returns {version id:
    size} for those the store answered; a version it cannot find or reach is left unknown."""
    unknown = {version.id: version for version in versions if version.size is None}
    if not unknown:
        return {}
    store = get_filestore()

    def size_of(version: VersionRow) -> int | None:
        try:
            return store.size(version.store_path, version.key)
        except (FileStoreNotFound, FileStoreUnavailable) as exc:
            logger.info("Size of %s@%s unknown: %s", version.store_path, version.key, exc)
            return None

    with ThreadPoolExecutor(max_workers=min(SIZE_LOOKUP_THREADS, len(unknown))) as pool:
        found = {
            version_id: size
            for version_id, size in zip(unknown, pool.map(size_of, unknown.values()), strict=True)
            if size is not None
        }
    if found:
        try:
            Version.objects.using(WRITER).bulk_update(
                [Version(id=version_id, size=size) for version_id, size in found.items()], ["size"]
            )
        except (OperationalError, InterfaceError) as exc:  # the sizes still serve this zip
            logger.warning("Could not keep %d version sizes: %s", len(found), exc)
    return found
