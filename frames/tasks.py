"""Background work of the frames app."""

from celery import shared_task

from frames import services


@shared_task(name="frames.cache_aggregates", ignore_result=True)
def cache_aggregates() -> None:
    services.aggregates_rebuild()


@shared_task(name="frames.publish_outbox", ignore_result=True)
def publish_outbox() -> None:
    """Periodic drain of the notification outbox (celery beat, every 10 s)."""
    services.outbox_publish()
