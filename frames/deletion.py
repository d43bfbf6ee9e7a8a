"""Deleting frames and thumbnails: rows go in one transaction, their stored files only after the commit, through a
queue that survives an unreachable store; and the retention of guide-camera frames."""

import contextlib
import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from archive.filestore import FileStoreNotFound, get_filestore
from archive.retryqueue import drain
from frames.models import FileDeletion, Frame, Thumbnail, Version

logger = logging.getLogger(__name__)

WRITER = "default"


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
