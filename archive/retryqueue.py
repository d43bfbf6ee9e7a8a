"""Tables of work the archive owes (notifications to publish, stored files to delete): each row is done once, in id
order, and a row whose attempt fails stays, backing off, for a later drain."""

import datetime
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

Row = TypeVar("Row", bound=models.Model)


def retry_delay(attempts: int) -> datetime.timedelta:
    """Exponential back-off after `attempts` failures, capped at NOTIFICATION_RETRY_MAX_SECONDS."""
    return datetime.timedelta(seconds=min(2**attempts, settings.NOTIFICATION_RETRY_MAX_SECONDS))


def drain(
    model: type[Row],
    *,
    handle: Callable[[Row], None],
    retry_on: tuple[type[BaseException], ...],
    using: str,
    batch_size: int,
    due_only: bool = True,
    repeat: bool = True,
) -> tuple[int, int]:
    """Do the due rows of `model` with `handle(row)` and delete them; (done, failed).

    Rows are claimed with FOR UPDATE SKIP LOCKED, so concurrent drains (several workers, a command) never do the same
    row twice at once. The first row whose `handle` raises one of `retry_on` records the error, backs off and ends
    the drain: the dependency it needs is failing, and the rows after it would fail alike. `repeat` goes on batch
    after batch until none is left; `due_only=False` also takes rows still backing off.
    """
    done_total = failed = 0
    name = model._meta.verbose_name_plural
    while True:
        with transaction.atomic(using=using):
            rows = model._default_manager.using(using).select_for_update(skip_locked=True).order_by("id")
            if due_only:
                rows = rows.filter(next_attempt_at__lte=timezone.now())
            # Rows of a retry table: each has `attempts`, `last_error` and `next_attempt_at`.
            batch: list[Any] = list(rows[:batch_size])
            if not batch:
                break
            done: list[int] = []
            for row in batch:
                try:
                    handle(row)
                except retry_on as exc:
                    failed += 1
                    row.attempts += 1
                    row.last_error = str(exc)[:2000]
                    row.next_attempt_at = timezone.now() + retry_delay(row.attempts)
                    row.save(update_fields=["attempts", "last_error", "next_attempt_at"])
                    logger.warning("%d %s wait for a later attempt: %s", len(batch) - len(done), name, exc)
                    break
                done.append(row.id)
            model._default_manager.using(using).filter(id__in=done).delete()
            done_total += len(done)
        if failed or not repeat:
            break
    return done_total, failed
