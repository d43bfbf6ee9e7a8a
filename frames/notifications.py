"""Post-ingest notifications: the outbox row written in the ingest's transaction, the per-process relay that
publishes it after the commit, and the drain that publishes whatever the relay could not."""

import json
import logging

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from archive.background import BatchThread
from archive.messaging import PublishFailed, get_publisher
from archive.retryqueue import drain, retry_delay
from frames.models import OutboxMessage

logger = logging.getLogger(__name__)

WRITER = "default"
# How long a new notification is left to the after-commit attempt (the relay's) before the background drain takes it.
INLINE_GRACE_SECONDS = 10


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


def write_notification(cursor, *, frame_id: int, data: dict, added_md5s: list[str]) -> dict | None:
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
