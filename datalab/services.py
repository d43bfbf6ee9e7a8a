"""Writes of the datalab: sessions, operation submission and deletion, and the run's life on the worker (claim,
progress, products, finish), every worker write fenced by the run's attempt."""

import datetime
import functools
import hashlib
import json
import logging
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.gis.geos import Point
from django.core.files.storage import Storage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone
from kombu.exceptions import KombuError

from archive.celery import app as celery_app
from archive.exceptions import ServiceUnavailable
from datalab.jsonsafe import json_safe
from datalab.models import CatalogStar, DataOperation, DataSession, OperationRun, RunStatus
from datalab.operations.base import InputError, Operation, get_operation
from datalab.operations.inputs import check_input_data, stored_item
from datalab.operations.resolve import Resolved, resolve_items
from frames.values import normalise_longitude

logger = logging.getLogger(__name__)

EXECUTE_TASK = "datalab.execute_run"
TOUCH_INTERVAL = datetime.timedelta(seconds=60)
# An operation GET or housekeeping gives up on a run whose worker went quiet this long: the front-end polls forever
# otherwise.
ABANDONED_AFTER = datetime.timedelta(minutes=10)
QUEUE_UNAVAILABLE = "The task queue is unavailable; nothing was started. Try again later."
ABANDONED_MESSAGE = "The worker running this operation stopped; submit it again to retry."


# --- Sessions -------------------------------------------------------------------------------------------------------


def _item_identity(item: dict) -> tuple[str, str]:
    return (item.get("source", "archive") or "archive", item["basename"])


def _session_items(*, user: User, items: list[dict]) -> list[dict]:
    """Items checked (each resolved: 404 when missing or invisible), put in stored form, duplicates collapsed."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("basename"), str) or not item["basename"]:
            raise InputError("Every input_data item needs a basename.", "input_data")
        identity = _item_identity(item)
        if identity in seen:
            continue
        seen.add(identity)
        kept.append({**stored_item(item), "source": identity[0]})
    resolve_items(user=user, items=kept, fits_only=False)
    return kept


def session_create(*, user: User, name: str, input_data: list[dict]) -> DataSession:
    items = _session_items(user=user, items=input_data)
    now = timezone.now()
    return DataSession.objects.create(user=user, name=name, input_data=items, modified=now, accessed=now)


def session_update(
    *, session: DataSession, name: str | None = None, input_data: list[dict] | None = None
) -> DataSession:
    """Rename, and merge items: those with a new (source, basename) are appended in the order given."""
    fields = ["modified", "accessed"]
    if name is not None:
        session.name = name
        fields.append("name")
    if input_data is not None:
        known = {_item_identity(item) for item in session.input_data}
        new = [item for item in input_data if isinstance(item, dict) and item.get("basename")]
        added = [item for item in _session_items(user=session.user, items=new) if _item_identity(item) not in known]
        if added:
            session.input_data = [*session.input_data, *added]
            fields.append("input_data")
    session.modified = session.accessed = timezone.now()
    session.save(update_fields=fields)
    return session


def session_touch(*, session: DataSession) -> None:
    """Mark the session opened, with one UPDATE only when the stored time is over a minute old."""
    now = timezone.now()
    if session.accessed and now - session.accessed < TOUCH_INTERVAL:
        return
    DataSession.objects.filter(pk=session.pk, accessed__lt=now - TOUCH_INTERVAL).update(accessed=now)
    session.accessed = now


def session_delete(*, session: DataSession) -> None:
    """The session and its operations; runs stay for housekeeping (other users' operations may share them)."""
    with transaction.atomic():
        runs = list(session.operations.values_list("run_id", flat=True))
        session.delete()
        _cancel_unreferenced(runs)


# --- Submission -----------------------------------------------------------------------------------------------------


def _canonical_value(value: Any) -> Any:
    if isinstance(value, dict) and "ra" in value and "dec" in value:
        source = {"ra": round(float(value["ra"]), 7), "dec": round(float(value["dec"]), 7)}
        if value.get("name"):
            source["name"] = value["name"]
        return source
    return value


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def dedupe_key(*, name: str, version: int, params: dict, files: dict[str, list[Resolved]]) -> str:
    """SHA-256 of what the run computes: the operation, its code version and the content of every input."""
    inputs: dict[str, Any] = {key: _canonical_value(value) for key, value in params.items()}
    for key, resolved in files.items():
        inputs[key] = sorted((item.canonical() for item in resolved), key=_canonical_json)
    document = {"op": name, "v": version, "inputs": inputs}
    return hashlib.sha256(_canonical_json(document).encode("ascii")).hexdigest()


def _prepare(
    *, user: User, name: str, input_data: Any
) -> tuple[type[Operation], dict, dict[str, list[Resolved]], dict[str, Any]]:
    operation_class = get_operation(name) if isinstance(name, str) else None
    if operation_class is None:
        raise InputError(f"Unknown operation '{name}'", "name")
    unavailable = operation_class.unavailable_reason()
    if unavailable:
        raise InputError(unavailable, "name")
    params, items = check_input_data(operation_class, input_data)
    everything = [item for key in items for item in items[key]]
    resolved_all = resolve_items(user=user, items=everything) if everything else []
    resolved: dict[str, list[Resolved]] = {}
    position = 0
    for key, key_items in items.items():
        resolved[key] = resolved_all[position : position + len(key_items)]
        position += len(key_items)
        if key in operation_class.archive_only_inputs:
            for entry in resolved[key]:
                if entry.source != "archive":
                    raise InputError(f"{operation_class.name} takes archive frames only; {entry.basename} is not.", key)
    operation_class.validate(params, resolved)
    # The inputs as echoed to the client: parameters with their defaults, file items in stored form, sorted.
    echoed = {**params, **{key: [entry.item for entry in entries] for key, entries in resolved.items()}}
    return operation_class, params, resolved, echoed


def operation_submit(*, session: DataSession, user: User, name: str, input_data: Any) -> DataOperation:
    """Check, resolve and record an operation; publish its run when it is new (or failed before) and its parents
    are done. A broker that refuses takes the request back: nothing stays recorded that was not started."""
    operation_class, params, resolved, echoed = _prepare(user=user, name=name, input_data=input_data)
    key = dedupe_key(name=operation_class.name, version=operation_class.version, params=params, files=resolved)
    parents = {entry.run.pk: entry.run for entries in resolved.values() for entry in entries if entry.run is not None}
    run_inputs = json_safe(
        {"params": params, "files": {k: [entry.worker_form() for entry in v] for k, v in resolved.items()}}
    )
    with transaction.atomic():
        run, created = _run_for_key(
            key=key,
            name=operation_class.name,
            version=operation_class.version,
            inputs=run_inputs,
            parents=list(parents.values()),
        )
        operation = DataOperation.objects.create(session=session, name=operation_class.name, input_data=echoed, run=run)
        now = timezone.now()
        DataSession.objects.filter(pk=session.pk).update(modified=now, accessed=now)
        session.modified = session.accessed = now
    if run.status == RunStatus.PENDING and run.enqueued_at is None and _parents_done(run):
        try:
            run_publish(run=run)
        except ServiceUnavailable:
            with transaction.atomic():
                operation.delete()
                if created:
                    OperationRun.objects.filter(pk=run.pk, operations__isnull=True).delete()
            raise
    return operation


def _run_for_key(
    *, key: str, name: str, version: int, inputs: dict, parents: list[OperationRun]
) -> tuple[OperationRun, bool]:
    run = OperationRun.objects.select_for_update().filter(key=key).first()
    created = False
    if run is None:
        try:
            with transaction.atomic():
                run = OperationRun.objects.create(key=key, name=name, version=version, inputs=inputs)
                run.parents.set(parents)
                created = True
        except IntegrityError:  # another request created it first
            run = OperationRun.objects.select_for_update().get(key=key)
    if not created and run.status == RunStatus.FAILED:
        _reset(run)
    elif not created and run.cancel_requested:
        # Asked for again before its worker noticed the cancellation: it carries on.
        OperationRun.objects.filter(pk=run.pk).update(cancel_requested=False)
        run.cancel_requested = False
    return run, created


def run_restart(*, run: OperationRun) -> None:
    """Reset a FAILED run to PENDING and publish it (the admin's "run again")."""
    with transaction.atomic():
        run = OperationRun.objects.select_for_update().get(pk=run.pk)
        if run.status != RunStatus.FAILED:
            return
        _reset(run)
    if _parents_done(run):
        run_publish(run=run)


def _clear_results(run: OperationRun) -> None:
    """Forget what an earlier attempt produced: progress, message, products and their URLs."""
    run.progress = 0.0
    run.message = ""
    run.output = None
    run.signed_urls = None
    run.urls_valid_until = None
    run.finished_at = None


def _reset(run: OperationRun) -> None:
    _clear_results(run)
    run.status = RunStatus.PENDING
    run.error_detail = ""
    run.attempt = 0
    run.enqueued_at = None
    run.started_at = run.heartbeat_at = None
    run.cancel_requested = False
    run.save()


def _parents_done(run: OperationRun) -> bool:
    return not run.parents.exclude(status=RunStatus.COMPLETED).exists()


def run_publish(*, run: OperationRun) -> None:
    """Hand the run to the queue (its id only: the worker reads the rest from the database).

    It is marked enqueued first, so that a worker (or eager execution) never finds it unmarked; a publication that
    is lost after all is found by housekeeping once the mark is older than DATALAB_STALE_AFTER_SECONDS.
    """
    now = timezone.now()
    OperationRun.objects.filter(pk=run.pk, status=RunStatus.PENDING).update(enqueued_at=now)
    run.enqueued_at = now
    try:
        result = celery_app.signature(EXECUTE_TASK, args=[run.pk]).apply_async(
            queue="datalab",
            # The limits travel in the message, read from the settings when it is sent (the task's own are fixed
            # when its module is imported).
            soft_time_limit=settings.DATALAB_TIME_LIMIT_SECONDS,
            time_limit=settings.DATALAB_TIME_LIMIT_SECONDS + 60,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1},
        )
    except (KombuError, OSError) as exc:
        logger.warning("Could not publish datalab run %s: %s", run.pk, exc)
        OperationRun.objects.filter(pk=run.pk, status=RunStatus.PENDING).update(enqueued_at=None)
        run.enqueued_at = None
        raise ServiceUnavailable(QUEUE_UNAVAILABLE, retry_after=30) from exc
    task_id = getattr(result, "id", "") or ""
    OperationRun.objects.filter(pk=run.pk, task_id="").update(task_id=task_id)


# --- Deletion -------------------------------------------------------------------------------------------------------


def _cancel_unreferenced(run_ids: list[int]) -> None:
    """Runs left unfinished and unreferenced are asked to stop: their worker notices at its next progress report."""
    if run_ids:
        OperationRun.objects.filter(
            pk__in=run_ids, operations__isnull=True, status__in=[RunStatus.PENDING, RunStatus.IN_PROGRESS]
        ).update(cancel_requested=True)


def _touch_modified(session: DataSession) -> None:
    now = timezone.now()
    DataSession.objects.filter(pk=session.pk).update(modified=now, accessed=now)


def operation_delete(*, operation: DataOperation) -> None:
    with transaction.atomic():
        run_id = operation.run_id
        operation.delete()
        _touch_modified(operation.session)
        _cancel_unreferenced([run_id])


def operations_bulk_delete(*, session: DataSession, ids: list[int]) -> int:
    """Delete the listed operations of this session (other ids are ignored); the number deleted."""
    with transaction.atomic():
        operations = DataOperation.objects.filter(session=session, pk__in=ids)
        run_ids = list(operations.values_list("run_id", flat=True))
        deleted, _ = operations.delete()
        if deleted:
            _touch_modified(session)
            _cancel_unreferenced(run_ids)
    return deleted


# --- Stale runs -----------------------------------------------------------------------------------------------------


def run_fail_if_abandoned(*, run: OperationRun) -> bool:
    """Fail a run whose worker stopped reporting long ago (one conditional UPDATE); whether it did."""
    if run.status != RunStatus.IN_PROGRESS or run.heartbeat_at is None:
        return False
    cutoff = timezone.now() - ABANDONED_AFTER
    if run.heartbeat_at >= cutoff:
        return False
    failed = _fail_where(Q(pk=run.pk, status=RunStatus.IN_PROGRESS, heartbeat_at__lt=cutoff), ABANDONED_MESSAGE)
    if failed:
        run.refresh_from_db()
        fail_descendants(run=run)
    return bool(failed)


def _fail_where(condition: Q, message: str) -> int:
    return OperationRun.objects.filter(condition).update(
        status=RunStatus.FAILED, message=message, finished_at=timezone.now()
    )


def _input_failed(parent: OperationRun) -> str:
    return f"An input operation failed ({parent.name}): {parent.message}"


def fail_descendants(*, run: OperationRun) -> int:
    """Every unfinished run downstream of a failed one fails, naming the parent that did."""
    failed = 0
    frontier = [run]
    while frontier:
        parent = frontier.pop()
        message = _input_failed(parent)
        children = list(parent.children.filter(status__in=[RunStatus.PENDING, RunStatus.IN_PROGRESS]))
        for child in children:
            if _fail_where(Q(pk=child.pk, status__in=[RunStatus.PENDING, RunStatus.IN_PROGRESS]), message):
                failed += 1
                child.status, child.message = RunStatus.FAILED, message
                frontier.append(child)
    return failed


# --- The run on the worker ------------------------------------------------------------------------------------------


@dataclass
class Claim:
    run: OperationRun
    attempt: int


class ClaimOutcome:
    """Why a delivery did not start the run: already done, waiting for parents, or owned by a live worker."""

    DONE = "done"
    WAITING = "waiting"
    OWNED = "owned"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _fail_unstarted(run: OperationRun, message: str) -> str:
    """Fail a run its delivery will not start (inside the claim's transaction), and after the commit every
    unfinished run downstream of it."""
    _fail_where(Q(pk=run.pk), message)
    run.status, run.message = RunStatus.FAILED, message
    transaction.on_commit(lambda: fail_descendants(run=run))
    return ClaimOutcome.DONE


def run_claim(*, run_id: int, task_id: str = "") -> Claim | str:
    """Take the run for this worker (a new attempt), or say why not; idempotent for redelivered messages."""
    with transaction.atomic():
        run = OperationRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status in (RunStatus.COMPLETED, RunStatus.FAILED):
            return ClaimOutcome.DONE
        now = timezone.now()
        if run.cancel_requested:
            return _fail_unstarted(run, "Cancelled")
        parents = list(run.parents.all())
        failed_parent = next((p for p in parents if p.status == RunStatus.FAILED), None)
        if failed_parent is not None:
            return _fail_unstarted(run, _input_failed(failed_parent))
        if any(p.status != RunStatus.COMPLETED for p in parents):
            OperationRun.objects.filter(pk=run.pk).update(enqueued_at=None)
            return ClaimOutcome.WAITING
        stale_before = now - datetime.timedelta(seconds=settings.DATALAB_STALE_AFTER_SECONDS)
        if run.status == RunStatus.IN_PROGRESS and run.heartbeat_at and run.heartbeat_at >= stale_before:
            return ClaimOutcome.OWNED
        if run.attempt >= settings.DATALAB_MAX_ATTEMPTS:
            return _fail_unstarted(
                run, f"The operation stopped unexpectedly {run.attempt} times; contact the archive staff."
            )
        _clear_results(run)
        run.attempt += 1
        run.status = RunStatus.IN_PROGRESS
        run.started_at = run.heartbeat_at = now
        run.worker = worker_name()
        run.task_id = task_id or run.task_id
        run.save()
        return Claim(run=run, attempt=run.attempt)


def _fenced(claim: Claim, **extra: Any) -> Q:
    return Q(pk=claim.run.pk, attempt=claim.attempt, status=RunStatus.IN_PROGRESS, **extra)


class LostClaim(Exception):
    """The run was taken over or ended elsewhere: this attempt's writes no longer count."""


def run_progress(*, claim: Claim, fraction: float, message: str) -> bool:
    """Record progress (never backwards); whether cancellation was asked for. LostClaim when superseded."""
    fraction = min(max(float(fraction), 0.0), 1.0)
    now = timezone.now()
    updated = OperationRun.objects.filter(_fenced(claim)).update(
        progress=_greatest(fraction), message=message, heartbeat_at=now
    )
    if not updated:
        raise LostClaim()
    return OperationRun.objects.filter(pk=claim.run.pk, cancel_requested=True).exists()


def _greatest(value: float) -> Greatest:
    return Greatest(F("progress"), value)


def run_heartbeat(*, claim: Claim) -> bool:
    return bool(OperationRun.objects.filter(_fenced(claim)).update(heartbeat_at=timezone.now()))


def run_output_update(*, claim: Claim, output: dict) -> None:
    """Publish the manifest so far (file products appear while the run goes on)."""
    if not OperationRun.objects.filter(_fenced(claim)).update(output=json_safe(output), heartbeat_at=timezone.now()):
        raise LostClaim()


def run_finish(*, claim: Claim, output: dict, message: str = "") -> list[OperationRun]:
    """COMPLETED with its manifest; the children now ready, to be published by the caller after the commit."""
    output = json_safe(output)
    output.setdefault("output_files", [])
    output.setdefault("output_data", [])
    with transaction.atomic():
        done = OperationRun.objects.filter(_fenced(claim)).update(
            status=RunStatus.COMPLETED, progress=1.0, message=message, output=output, finished_at=timezone.now()
        )
        if not done:
            raise LostClaim()
        ready = [
            child
            for child in claim.run.children.filter(status=RunStatus.PENDING, enqueued_at__isnull=True)
            if _parents_done(child)
        ]
    return ready


def run_fail(*, claim: Claim, message: str, detail: str = "") -> None:
    with transaction.atomic():
        failed = OperationRun.objects.filter(_fenced(claim)).update(
            status=RunStatus.FAILED, message=message, error_detail=detail, finished_at=timezone.now()
        )
    if failed:
        claim.run.status, claim.run.message = RunStatus.FAILED, message
        fail_descendants(run=claim.run)


def run_retry_later(*, claim: Claim, message: str, countdown: int) -> bool:
    """Back to PENDING for a retry in `countdown` seconds after a storage or database error; whether this attempt
    still owned it. The run counts as enqueued when the retry is due, so housekeeping does not publish it again
    while it waits."""
    due = timezone.now() + datetime.timedelta(seconds=countdown)
    return bool(
        OperationRun.objects.filter(_fenced(claim)).update(
            status=RunStatus.PENDING, message=message, heartbeat_at=None, enqueued_at=due
        )
    )


def run_time_out(*, claim: Claim) -> None:
    minutes = settings.DATALAB_TIME_LIMIT_SECONDS / 60
    shown = f"{minutes:g}"
    run_fail(claim=claim, message=f"The operation exceeded its time limit of {shown} minutes.")


# --- Housekeeping ---------------------------------------------------------------------------------------------------


# The phases of housekeeping, in order, as `housekeeping` reports them to its `progress`.
HOUSEKEEPING_PHASES = ("abandoned runs", "lost publications", "orphan runs")


def housekeeping(
    *, now: datetime.datetime | None = None, progress: Callable[[str, int, int], None] | None = None
) -> dict:
    """Fail abandoned runs, republish PENDING runs whose publication was lost, remove old orphan runs.

    `progress(phase, done, total)` is called as each phase starts (done 0) and after each run it examines; a phase
    reads its runs only once the phase before it is done, since that one may change them."""
    from datalab.storage import product_storage

    def report_progress(phase: str, done: int, total: int) -> None:
        if progress is not None:
            progress(phase, done, total)

    now = now or timezone.now()
    report = {"abandoned": 0, "republished": 0, "orphans": 0}
    abandoned = list(OperationRun.objects.filter(status=RunStatus.IN_PROGRESS, heartbeat_at__lt=now - ABANDONED_AFTER))
    report_progress(HOUSEKEEPING_PHASES[0], 0, len(abandoned))
    for done, run in enumerate(abandoned, start=1):
        report["abandoned"] += run_fail_if_abandoned(run=run)
        report_progress(HOUSEKEEPING_PHASES[0], done, len(abandoned))
    lost_before = now - datetime.timedelta(seconds=settings.DATALAB_STALE_AFTER_SECONDS)
    pending = list(
        OperationRun.objects.filter(status=RunStatus.PENDING, operations__isnull=False)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=lost_before))
        .distinct()
    )
    report_progress(HOUSEKEEPING_PHASES[1], 0, len(pending))
    for done, run in enumerate(pending, start=1):
        if _parents_done(run):
            try:
                run_publish(run=run)
                report["republished"] += 1
            except ServiceUnavailable:  # the broker is down: the others would fail alike; the next pass retries
                break
        report_progress(HOUSEKEEPING_PHASES[1], done, len(pending))
    retention = now - datetime.timedelta(days=settings.DATALAB_ORPHAN_RETENTION_DAYS)
    orphans = list(
        OperationRun.objects.filter(operations__isnull=True)
        .filter(Q(finished_at__lt=retention) | Q(finished_at__isnull=True, created__lt=retention))
        # A child still to run, or running, reads this run's products.
        .exclude(children__status__in=[RunStatus.PENDING, RunStatus.IN_PROGRESS])
    )
    report_progress(HOUSEKEEPING_PHASES[2], 0, len(orphans))
    storage = product_storage()
    for done, run in enumerate(orphans, start=1):
        files = _stored_files(run.output)
        with transaction.atomic():
            deleted, _ = OperationRun.objects.filter(pk=run.pk, operations__isnull=True).delete()
            if deleted:
                transaction.on_commit(functools.partial(_delete_files, storage, files))
        report["orphans"] += 1 if deleted else 0
        report_progress(HOUSEKEEPING_PHASES[2], done, len(orphans))
    return report


def _stored_files(output: dict | None) -> list[str]:
    keys = []
    for product in (output or {}).get("output_files", []):
        keys.extend(product.get("keys", {}).values())
    return keys


def _delete_files(storage: Storage, keys: list[str]) -> None:
    for key in keys:
        try:
            storage.delete(key)
        except Exception:  # a file left behind is harmless; the run is gone
            logger.warning("Could not delete datalab product %s", key, exc_info=True)


CATALOG_VALUES = CatalogStar.MEASUREMENTS


def catalog_stars_load(
    *, rows: Iterable[Mapping[str, Any]], batch_size: int = 5000, progress: Callable[[int], None] | None = None
) -> int:
    """Insert or update (by `source_id`) the local catalogue's stars from rows with `source_id`, `ra`, `dec` and
    any of CATALOG_VALUES (None where unknown), `batch_size` rows per statement, each batch its own transaction;
    returns the number of rows loaded."""
    loaded = 0
    batch: list[CatalogStar] = []

    def flush() -> None:
        nonlocal loaded
        with transaction.atomic():
            CatalogStar.objects.bulk_create(
                batch,
                batch_size=batch_size,
                update_conflicts=True,
                unique_fields=["source_id"],
                update_fields=["ra", "dec", "position", *CATALOG_VALUES],
            )
        loaded += len(batch)
        batch.clear()
        if progress is not None:
            progress(loaded)

    for row in rows:
        ra, dec = float(row["ra"]), float(row["dec"])
        if not (-90.0 <= dec <= 90.0 and 0.0 <= ra <= 360.0):
            raise ValueError(f"Star {row['source_id']} has RA {ra} and Dec {dec}, outside the sky.")
        star = CatalogStar(
            source_id=int(row["source_id"]),
            ra=ra,
            dec=dec,
            position=Point(normalise_longitude(ra), dec, srid=4326),
            **{name: row.get(name) for name in CATALOG_VALUES},
        )
        batch.append(star)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return loaded
