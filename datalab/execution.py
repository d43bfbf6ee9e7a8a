"""One delivery of a run on a worker: claim it, give its operation a context to compute in (inputs on demand,
fenced progress, products stored as they come), keep its heartbeat, and end it COMPLETED, FAILED or to be retried."""

import contextlib
import logging
import shutil
import threading
import time
import traceback
from pathlib import Path

from botocore.exceptions import BotoCoreError
from celery.exceptions import Retry, SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import InterfaceError, OperationalError, connection

from archive.exceptions import ServiceUnavailable
from archive.filestore import FileStoreUnavailable
from datalab import services
from datalab.models import OperationRun
from datalab.operations.base import Operation, OperationError, RunCancelled, get_operation
from datalab.operations.resolve import archive_file, observation_datetime, product_file, product_name, run_scratch
from datalab.storage import product_key, product_storage
from frames.models import Version

logger = logging.getLogger(__name__)

# Transient infrastructure errors: the run goes back to PENDING and the task is retried after these delays.
RETRY_DELAYS = (10, 60, 300)
TRANSIENT_ERRORS = (FileStoreUnavailable, OperationalError, InterfaceError, BotoCoreError, ConnectionError)
PROGRESS_INTERVAL_SECONDS = 1.0


class WorkerFile:
    """An input file of the run, fetched into the scratch cache (or found in place) on first use."""

    def __init__(self, form: dict, runs: dict[str, OperationRun]):
        self.form = form
        self.source = form["s"]
        self.basename = form["basename"]
        self.item = {"basename": self.basename, "source": self.source}
        for name in ("color", "zmin", "zmax"):
            if name in form:
                self.item[name] = form[name]
        self.filter = form.get("filter")
        self.observation_date = observation_datetime(form.get("observation_date"))
        self._runs = runs
        self._path: Path | None = None

    @property
    def label(self) -> str:
        if self.source == "archive":
            return f"{self.basename} md5 {self.form['md5']}"
        return f"datalab {product_name(self.form['run'], self.form['i'])}"

    @property
    def path(self) -> Path:
        if self._path is None:
            if self.source == "archive":
                self._path = archive_file(version=Version.objects.get(pk=self.form["version"]))
            else:
                self._path = self._product_path()
        return self._path

    def _product_path(self) -> Path:
        run = self._runs.get(self.form["run"])
        name = product_name(self.form["run"], self.form["i"])
        products = (run.output or {}).get("output_files", []) if run else []
        product = next((p for p in products if p.get("basename") == name), None)
        if product is None or "fits" not in product.get("keys", {}):
            raise OperationError(f"The input product {name} no longer exists; run its operation again.")
        return product_file(storage_key=product["keys"]["fits"], cache_name=f"{name}.fits")


class WorkerContext:
    """The run context of a worker: what `Operation.run(ctx)` computes with."""

    def __init__(self, claim: services.Claim, operation: Operation, scratch: Path):
        self.claim = claim
        run = claim.run
        self.key = run.key
        self.operation = operation
        self.scratch = scratch
        self.params = dict(run.inputs.get("params", {}))
        self.message = ""
        self.output: dict = {}
        parent_keys = {
            form["run"] for forms in run.inputs.get("files", {}).values() for form in forms if form["s"] == "datalab"
        }
        runs = {parent.key: parent for parent in OperationRun.objects.filter(key__in=parent_keys)}
        self._files = {
            name: [WorkerFile(form, runs) for form in forms] for name, forms in run.inputs.get("files", {}).items()
        }
        self._last_progress = (0.0, 0.0)  # (fraction, monotonic time of the last write)

    def files(self, name: str) -> list[WorkerFile]:
        return list(self._files.get(name, []))

    def progress(self, fraction: float, message: str = "") -> None:
        fraction = min(max(float(fraction), self._last_progress[0]), 1.0)
        now = time.monotonic()
        if now - self._last_progress[1] < PROGRESS_INTERVAL_SECONDS and fraction < 1.0:
            self._last_progress = (fraction, self._last_progress[1])
            return
        self._last_progress = (fraction, now)
        if services.run_progress(claim=self.claim, fraction=fraction, message=message):
            raise RunCancelled()

    def add_file_product(
        self,
        *,
        fits_path: Path,
        large_jpg: bytes,
        small_jpg: bytes,
        tif: bytes | None = None,
        kind: str = "fits",
        index: int | None = None,
    ) -> dict:
        basename = product_name(self.key, index or 0)
        storage = product_storage()
        keys = {}
        with open(fits_path, "rb") as handle:
            keys["fits"] = storage.save(product_key(self.key, f"{basename}.fits"), File(handle))
        keys["large"] = storage.save(product_key(self.key, f"{basename}-large.jpg"), ContentFile(large_jpg))
        keys["small"] = storage.save(product_key(self.key, f"{basename}-small.jpg"), ContentFile(small_jpg))
        if tif is not None:
            keys["tif"] = storage.save(product_key(self.key, f"{basename}.tif"), ContentFile(tif))
        product = {"basename": basename, "source": "datalab", "type": kind, "keys": keys}
        files = [p for p in self.output.get("output_files", []) if p["basename"] != basename]
        self.output["output_files"] = [*files, product]
        services.run_output_update(claim=self.claim, output=self.output)
        return product

    def set_data(self, data: dict) -> None:
        self.output.setdefault("output_data", []).append(data)
        services.run_output_update(claim=self.claim, output=self.output)


class Heartbeat:
    """A thread with its own database connection that keeps the claim alive while a long library call runs."""

    def __init__(self, claim: services.Claim):
        self.claim = claim
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{claim.run.pk}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)

    def _beat(self) -> None:
        used = False
        try:
            while not self._stop.wait(settings.DATALAB_HEARTBEAT_SECONDS):
                used = True
                try:
                    if not services.run_heartbeat(claim=self.claim):
                        return
                except (OperationalError, InterfaceError):
                    logger.warning("Heartbeat of run %s failed", self.claim.run.pk, exc_info=True)
        finally:
            if used:
                connection.close()


def execute(task, run_id: int) -> None:
    """The body of the Celery task: everything a delivery of `run_id` does."""
    outcome = services.run_claim(run_id=run_id, task_id=task.request.id or "")
    if outcome == services.ClaimOutcome.OWNED:
        raise task.retry(countdown=settings.DATALAB_STALE_AFTER_SECONDS, max_retries=None)
    if not isinstance(outcome, services.Claim):
        return
    claim = outcome
    run = claim.run
    operation_class = get_operation(run.name)
    if operation_class is None:
        services.run_fail(claim=claim, message=f"The operation '{run.name}' is no longer offered by this archive.")
        return
    scratch = run_scratch(run.key, claim.attempt)
    try:
        with Heartbeat(claim):
            ctx = WorkerContext(claim, operation_class(), scratch)
            operation_class().run(ctx)
            ready = services.run_finish(claim=claim, output=ctx.output, message=ctx.message)
        for child in ready:
            try:
                services.run_publish(run=child)
            except ServiceUnavailable:
                logger.warning("Child run %s not published; housekeeping will", child.pk)
    except OperationError as exc:
        services.run_fail(claim=claim, message=str(exc))
    except RunCancelled:
        services.run_fail(claim=claim, message="Cancelled")
    except SoftTimeLimitExceeded:
        services.run_time_out(claim=claim)
    except services.LostClaim:
        logger.info("Run %s attempt %s was superseded; its results are dropped", run.pk, claim.attempt)
    except Retry:
        raise
    except TRANSIENT_ERRORS as exc:
        _retry_or_fail(task, claim, exc)
    except Exception as exc:
        reference = f"{run.pk}.{claim.attempt}"
        logger.exception("Datalab run %s failed unexpectedly", reference)
        services.run_fail(
            claim=claim,
            message=f"The operation failed unexpectedly (reference {reference}).",
            detail="".join(traceback.format_exception(exc)),
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _retry_or_fail(task, claim: services.Claim, exc: Exception) -> None:
    if claim.attempt >= settings.DATALAB_MAX_ATTEMPTS:
        services.run_fail(
            claim=claim,
            message=f"The operation stopped unexpectedly {claim.attempt} times; contact the archive staff.",
            detail="".join(traceback.format_exception(exc)),
        )
        return
    message = f"Waiting to retry after a storage error (attempt {claim.attempt} of {settings.DATALAB_MAX_ATTEMPTS})"
    logger.warning("Datalab run %s: %s: %s", claim.run.pk, message, exc)
    countdown = RETRY_DELAYS[min(claim.attempt - 1, len(RETRY_DELAYS) - 1)]
    # When the database is the thing that failed, the redelivered message finds the run stale instead.
    with contextlib.suppress(OperationalError, InterfaceError):
        services.run_retry_later(claim=claim, message=message, countdown=countdown)
    raise task.retry(exc=exc, countdown=countdown, max_retries=None)
