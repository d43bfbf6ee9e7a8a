"""Writes of the frames app: ingest of frames and thumbnails, in a fixed number of statements."""

import contextlib
import datetime
import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from archive import portal
from archive.background import BatchThread
from archive.exceptions import Conflict, ServiceUnavailable
from archive.filestore import FileStoreNotFound, FileStoreUnavailable, get_filestore
from archive.messaging import PublishFailed, get_publisher
from archive.retryqueue import drain, retry_delay
from frames import fitsmeta
from frames.aggregates import aggregates_note_frame
from frames.models import FileDeletion, Frame, OutboxMessage, Thumbnail, Version
from frames.paths import store_path
from frames.selectors import VersionRow
from frames.serializers import ONLY_FITS_FILES, FrameIngestSerializer, footprint_geometry

logger = logging.getLogger(__name__)

WRITER = "default"
MAX_ATTEMPTS = 3
RETRYABLE_PGCODES = {"40P01", "40001"}  # deadlock detected, serialization failure

# Columns the ingest body may set, with the value a new row gets when the body leaves one out.
FRAME_DEFAULTS = {
    "observation_date": None,
    "observation_day": None,
    "proposal_id": "",
    "instrument_id": "",
    "target_name": "",
    "site_id": "",
    "telescope_id": "",
    "primary_optical_element": "",
    "configuration_type": "",
    "reduction_level": 0,
    "exposure_time": None,
    "public_date": None,
    "observation_id": None,
    "request_id": None,
    "area": None,
}

# How long a new notification is left to the after-commit attempt (the relay's) before the background drain takes it.
INLINE_GRACE_SECONDS = 10

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
RECORD_COLUMNS = ("id", "basename", *(name for name in FRAME_DEFAULTS if name != "area"))


def _upsert_frame(cursor, *, basename: str, values: dict, only_fill_placeholder: bool = False) -> tuple[dict, bool]:
    """Insert or update the frame row by basename; the row lock serialises concurrent ingests of one frame.

    Columns in `values` replace the stored ones; the others keep theirs (defaults on creation). With
    `only_fill_placeholder`, an existing frame is updated only while it is still a placeholder. Returns the stored
    row's RECORD_COLUMNS and whether the row was written.
    """
    columns = list(FRAME_DEFAULTS)
    params = [basename] + [values.get(name, FRAME_DEFAULTS[name]) for name in columns]
    placeholders = ", ".join("%s::geography" if name == "area" else "%s" for name in columns)
    updates = [f"{name} = EXCLUDED.{name}" for name in columns if name in values] + ["modified = now()"]
    where = " WHERE frames_frame.observation_date IS NULL" if only_fill_placeholder else ""
    cursor.execute(
        f"INSERT INTO frames_frame (basename, {', '.join(columns)}, created, modified) "
        f"VALUES (%s, {placeholders}, now(), now()) "
        f"ON CONFLICT (basename) DO UPDATE SET {', '.join(updates)}{where} "
        f"RETURNING true, {', '.join(RECORD_COLUMNS)}",
        params,
    )
    row = cursor.fetchone()
    if row is None:  # an existing, non-placeholder frame that must not change
        cursor.execute(f"SELECT false, {', '.join(RECORD_COLUMNS)} FROM frames_frame WHERE basename = %s", [basename])
        row = cursor.fetchone()
    return dict(zip(RECORD_COLUMNS, row[1:], strict=True)), row[0]


VERSION_COLUMNS = ", ".join(VersionRow._fields)


def _add_versions(
    cursor, *, frame_id: int, basename: str, versions: list[dict], path_fields: dict
) -> tuple[list[str], list[VersionRow]]:
    """Insert the posted versions that are new; replays are ignored, md5 or key clashes are 400s.

    Returns the md5s added, in posted order, and all the frame's versions newest first (the frame's row lock, taken
    by its insert or upsert, keeps other ingests from adding any meanwhile). One statement reads the frame's versions
    and the clashing ones, so that the count stays fixed whether or not versions are posted.
    """
    cursor.execute(
        f"SELECT {VERSION_COLUMNS} FROM frames_version WHERE frame_id = %s OR md5 = ANY(%s) OR key = ANY(%s)",
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
        rows.append((frame_id, item["key"], item["md5"], item["extension"], path))
    values_sql = ", ".join(["(%s, %s, %s, %s, %s, now())"] * len(rows))
    cursor.execute(
        "INSERT INTO frames_version (frame_id, key, md5, extension, store_path, created) "
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


def _replace_headers(cursor, *, frame_id: int, headers: dict, keep_existing: bool = False) -> None:
    conflict = "DO NOTHING" if keep_existing else "DO UPDATE SET data = EXCLUDED.data"
    cursor.execute(
        f"INSERT INTO frames_headers (frame_id, data) VALUES (%s, %s::jsonb) ON CONFLICT (frame_id) {conflict}",
        [frame_id, json.dumps(headers, allow_nan=False)],
    )


def _insert_frame_and_missing(
    cursor, *, basename: str, values: dict, related: list[str]
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
        f"INSERT INTO frames_frame (basename, {', '.join(columns)}, created, modified) "
        f"VALUES {', '.join([row_sql] * len(names))} "
        f"ON CONFLICT (basename) DO NOTHING RETURNING {', '.join(RECORD_COLUMNS)}",
        [value for name in names for value in (name, *(own if name == basename else placeholder))],
    )
    rows = [dict(zip(RECORD_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
    return {row["basename"] for row in rows}, next((row for row in rows if row["basename"] == basename), None)


def _link_related(cursor, *, frame_id: int, names: list[str]) -> list[int]:
    """Both link directions in one insert, in sorted order; links are only ever added. Returns the ids of every frame
    linked to this one, new links and earlier ones (other frames may have named this one), in id order."""
    cursor.execute(
        "WITH added AS ("
        "  INSERT INTO frames_frame_related_frames (from_frame_id, to_frame_id) "
        "  SELECT a, b FROM ("
        "    SELECT %(id)s::bigint AS a, id AS b FROM frames_frame WHERE basename = ANY(%(names)s)"
        "    UNION ALL SELECT id, %(id)s::bigint FROM frames_frame WHERE basename = ANY(%(names)s)"
        "  ) AS links WHERE a <> b ORDER BY a, b "
        "  ON CONFLICT (from_frame_id, to_frame_id) DO NOTHING RETURNING from_frame_id, to_frame_id"
        ") "
        # The statement's snapshot does not see its own inserts: the new links come from RETURNING.
        "SELECT to_frame_id FROM added WHERE from_frame_id = %(id)s "
        "UNION SELECT to_frame_id FROM frames_frame_related_frames WHERE from_frame_id = %(id)s ORDER BY 1",
        {"id": frame_id, "names": names},
    )
    return [row[0] for row in cursor.fetchall()]


def notification_payload(*, frame_id: int, data: dict) -> dict:
    """The post-ingest message: the header keywords at the top level, then five archive keys."""
    versions = [{"key": v["key"], "md5": v["md5"], "extension": v["extension"]} for v in data["version_set"]]
    area = data.get("area")
    return {
        **data["headers"],
        "area": json.dumps(area) if area is not None else None,
        "basename": data["basename"],
        "version_set": versions,
        "filename": f"{data['basename']}{versions[0]['extension']}" if versions else "",
        "frameid": frame_id,
    }


def _write_notification(cursor, *, frame_id: int, data: dict, added_md5s: list[str]) -> dict | None:
    """The outbox row of an ingest that added a version, in the ingest's own transaction."""
    if not added_md5s or not settings.PROCESSED_EXCHANGE_ENABLED:
        return None
    message = {
        "exchange": settings.PROCESSED_EXCHANGE_NAME,
        "message_id": f"{frame_id}-{added_md5s[0]}",
        "payload": notification_payload(frame_id=frame_id, data=data),
    }
    # Due a little later than now, so the background drain leaves the attempt after commit to go first.
    cursor.execute(
        "INSERT INTO frames_outboxmessage (frame_id, exchange, message_id, payload, created, attempts, "
        "next_attempt_at, last_error) VALUES (%s, %s, %s, %s::jsonb, now(), 0, now() + %s * interval '1 second', '') "
        "RETURNING id",
        [frame_id, message["exchange"], message["message_id"], json.dumps(message["payload"]), INLINE_GRACE_SECONDS],
    )
    message["id"] = cursor.fetchone()[0]
    return message


def _with_retries(work):
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
            message = _write_notification(cursor, frame_id=frame_id, data=data, added_md5s=added_md5s)
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
            path_fields = {name: data.get(name, FRAME_DEFAULTS[name]) for name in PATH_COLUMNS}
            path = store_path(basename=data["basename"], extension=version["extension"], **path_fields)
            cursor.execute(
                "INSERT INTO frames_thumbnail (frame_id, size, basename, extension, key, store_path, created) "
                "VALUES (%s, %s, %s, %s, %s, %s, now()) ON CONFLICT (basename) DO UPDATE SET "
                "frame_id = EXCLUDED.frame_id, size = EXCLUDED.size, extension = EXCLUDED.extension, "
                "key = EXCLUDED.key, store_path = EXCLUDED.store_path RETURNING id",
                [parent_id, data["size"], data["basename"], version["extension"], version["key"], path],
            )
            return cursor.fetchone()[0], parent_id

    return _with_retries(work)


# --- server-side ingest -------------------------------------------------------------------------------------------

NOT_FITS = "The file is not a readable FITS file."
STORE_UNREACHABLE = "The file store cannot be reached; nothing was archived."
FITS_CONTENT_TYPE = "image/fits"
MD5_CHUNK_BYTES = 1024 * 1024
# Body fields whose errors are named by the keyword they were read from; the basename comes from the file's name.
ERROR_NAMES = {field: keyword for field, (keyword, _) in fitsmeta.FIELD_KEYWORDS.items()} | {"basename": "file"}


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


def file_md5(fileobj: BinaryIO) -> tuple[str, int]:
    """md5 and size of a file read once from its start (`ingest_fits`; uploads are hashed while they spool)."""
    digest, size = hashlib.md5(), 0
    fileobj.seek(0)
    while chunk := fileobj.read(MD5_CHUNK_BYTES):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


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
    if md5 is None or size is None:
        md5, size = file_md5(fileobj)
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
    version = {"key": key, "md5": md5, "extension": extension}
    try:
        result = frame_ingest(data={**data, "version_set": [version]})
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


# --- notifications ------------------------------------------------------------------------------------------------


def outbox_publish_batch(*, messages: list[dict]) -> int:
    """The after-commit attempt at ingests' notifications, made by the relay thread: publish each, then delete the
    confirmed rows in one statement. A failure records the attempt on its row and opens the publisher's circuit; what
    is left of the batch, and everything while the circuit is open, waits for the drain. Returns how many were sent.
    """

    publisher = get_publisher()
    published = []
    for message in messages:
        if publisher.circuit_open:
            break
        try:
            publisher.publish(
                exchange=message["exchange"], payload=message["payload"], message_id=message["message_id"]
            )
        except PublishFailed as exc:
            logger.warning("Notification %s not published, will retry: %s", message["message_id"], exc)
            OutboxMessage.objects.using(WRITER).filter(pk=message["id"]).update(
                attempts=1, last_error=str(exc)[:2000], next_attempt_at=timezone.now() + retry_delay(1)
            )
            break
        published.append(message["id"])
    if published:
        with transaction.atomic(using=WRITER), connections[WRITER].cursor() as cursor:
            # A delete lost in a crash only means the message goes again (at least once; consumers de-duplicate on
            # message_id): no need to wait for the WAL flush.
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.execute("DELETE FROM frames_outboxmessage WHERE id = ANY(%s)", [published])
    return len(published)


# One per process: publishing waits for the broker's confirmation and the delete for the database, and neither is any
# business of the ingest's caller, who has the commit (and the outbox row) already.
outbox_relay = BatchThread(name="outbox-relay", handler=lambda messages: outbox_publish_batch(messages=messages))


def outbox_publish_later(*, message: dict) -> None:
    """Hand a committed notification to the relay; should the relay refuse it or its process die first, the drain
    publishes the row once it is due."""

    if not outbox_relay.submit(message):
        logger.warning("The outbox relay is full; notification %s is left to the drain", message["message_id"])


DRAIN_BATCH_SIZE = 500


def outbox_publish(*, due_only: bool = True, batch_size: int = DRAIN_BATCH_SIZE) -> dict:
    """Publish waiting notifications in id order, a batch at a time, until none is left or the broker fails.
    `due_only=False` also takes rows still backing off (draining on demand)."""

    publisher = get_publisher()

    def publish(row: OutboxMessage) -> None:
        publisher.publish(exchange=row.exchange, payload=row.payload, message_id=row.message_id)

    published, failed = drain(
        OutboxMessage,
        handle=publish,
        retry_on=(PublishFailed,),
        using=WRITER,
        batch_size=batch_size,
        due_only=due_only,
    )
    return {"published": published, "failed": failed}


# --- deletion -----------------------------------------------------------------------------------------------------


def frames_delete(*, frames) -> dict:
    """Delete frames with their versions, headers, thumbnails and links, placeholders left unlinked, and queue the
    deletion of every stored object version; the files go only after the commit."""

    ids = list(frames.values_list("id", flat=True)) if hasattr(frames, "values_list") else [f.id for f in frames]
    if not ids:
        return {"frames": 0, "files": 0}
    with transaction.atomic(using=WRITER):
        objects = list(Version.objects.using(WRITER).filter(frame_id__in=ids).values_list("store_path", "key")) + list(
            Thumbnail.objects.using(WRITER).filter(frame_id__in=ids).values_list("store_path", "key")
        )
        link = Frame.related_frames.through
        neighbours = set(
            link.objects.using(WRITER).filter(from_frame_id__in=ids).values_list("to_frame_id", flat=True)
        ) - set(ids)
        deleted, _ = Frame.objects.using(WRITER).filter(id__in=ids).delete()
        # Placeholders exist only as somebody's related name: with their last link gone, they go too.
        orphans = (
            Frame.objects.using(WRITER)
            .filter(id__in=neighbours, observation_date__isnull=True)
            .exclude(id__in=link.objects.using(WRITER).values("from_frame_id"))
        )
        orphans.delete()
        now = timezone.now()
        FileDeletion.objects.using(WRITER).bulk_create(
            [FileDeletion(store_path=path, version_key=key, next_attempt_at=now) for path, key in objects]
        )
        transaction.on_commit(file_deletions_process, using=WRITER)
    return {"frames": len(ids), "files": len(objects), "rows": deleted}


def thumbnail_delete(*, thumbnail) -> None:

    with transaction.atomic(using=WRITER):
        thumbnail.delete(using=WRITER)
        FileDeletion.objects.using(WRITER).create(
            store_path=thumbnail.store_path, version_key=thumbnail.key, next_attempt_at=timezone.now()
        )
        transaction.on_commit(file_deletions_process, using=WRITER)


def file_deletions_process(*, batch_size: int = 500) -> dict:
    """Delete the queued object versions from the store; failures stay queued and back off (beat, every 60 s)."""

    store = get_filestore()

    def delete(row: FileDeletion) -> None:
        with contextlib.suppress(FileStoreNotFound):  # already gone: nothing left to do
            store.delete(row.store_path, row.version_key)

    # Any store failure keeps the row for a later attempt; one batch a run, the next beat takes the rest.
    deleted, failed = drain(
        FileDeletion, handle=delete, retry_on=(Exception,), using=WRITER, batch_size=batch_size, repeat=False
    )
    return {"deleted": deleted, "failed": failed}


def version_sizes_fill(*, versions: list) -> dict[int, int]:
    """Sizes of versions whose size is unknown (POST /frames/ does not carry it), asked of the file store a few at a
    time and kept on the rows, so that the next zip of them knows its length without asking. Returns {version id:
    size} for those the store answered; a version it cannot find or reach is left unknown."""
    unknown = {version.id: version for version in versions if version.size is None}
    if not unknown:
        return {}
    store = get_filestore()

    def size_of(version) -> int | None:
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


def guide_frames_expired(*, days: int = 365, site: str | None = None):
    """Guide-camera frames observed at least `days` ago, except those of GUIDE_CAMERAS_TO_PERSIST."""

    cutoff = timezone.now() - datetime.timedelta(days=days)
    frames = Frame.objects.using(WRITER).filter(configuration_type="GUIDE", observation_date__lte=cutoff)
    if settings.GUIDE_CAMERAS_TO_PERSIST:
        frames = frames.exclude(instrument_id__in=settings.GUIDE_CAMERAS_TO_PERSIST)
    if site:
        frames = frames.filter(site_id__iexact=site)
    return frames


def frames_delete_in_batches(*, frames, batch_size: int = 1000, progress=None) -> dict:
    """Delete a (possibly huge) selection a batch at a time, each batch its own transaction."""

    totals = {"frames": 0, "files": 0}
    while True:
        ids = list(frames.order_by("id").values_list("id", flat=True)[:batch_size])
        if not ids:
            return totals
        result = frames_delete(frames=Frame.objects.using(WRITER).filter(id__in=ids))
        totals["frames"] += result["frames"]
        totals["files"] += result["files"]
        if progress:
            progress(totals)
