"""Background work of the frames app."""

from celery import shared_task

from frames import aggregates, checksums, deletion, notifications


@shared_task(name="frames.cache_aggregates", ignore_result=True)
def cache_aggregates() -> None:
    aggregates.aggregates_rebuild()


@shared_task(name="frames.publish_outbox", ignore_result=True)
def publish_outbox() -> None:
    """Periodic drain of the notification outbox (celery beat, every 10 s)."""
    notifications.outbox_publish()


@shared_task(name="frames.process_file_deletions", ignore_result=True)
def process_file_deletions() -> None:
    """Retry file deletions that failed after their commit (celery beat, every 60 s)."""
    deletion.file_deletions_process()


@shared_task(name="frames.expire_guide_frames", ignore_result=True)
def expire_guide_frames() -> None:
    """Daily expiry of old guide-camera frames, when GUIDE_FRAME_EXPIRY_ENABLED."""
    from django.conf import settings

    if settings.GUIDE_FRAME_EXPIRY_ENABLED:
        deletion.frames_delete_in_batches(frames=deletion.guide_frames_expired())


@shared_task(name="frames.record_checksums", ignore_result=True)
def record_checksums() -> None:
    """Read newly archived files once for their size and CRC-32 (celery beat, every CHECKSUM_SWEEP_SECONDS)."""
    checksums.checksums_sweep()
