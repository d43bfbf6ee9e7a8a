"""Runs that must not wait forever, and the staff's view of them: `datalab_housekeeping` (abandoned runs, lost
publications, orphans and their files), the operation GET's own stale check, the admin and its "run again", retries
after storage errors, cancellation by deleting the last operation, and a refusing broker.

The operations defined here exist only for these tests; each test that needs them registers this module."""

import datetime
import io
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from archive.filestore import FileStoreUnavailable
from datalab import execution, services
from datalab.models import DataOperation, DataSession, OperationRun, RunStatus
from datalab.operations.base import InputSpec, Operation, register_operations
from datalab.storage import product_key, product_storage
from datalab.tasks import execute_run
from datalab.tests.test_api import assert_error, make_session

pytestmark = pytest.mark.django_db

ABANDONED = "The worker running this operation stopped; submit it again to retry."
QUEUE_UNAVAILABLE = "The task queue is unavailable; nothing was started. Try again later."

# What the operations below saw, per test (reset by the `test_operations` fixture).
SEEN: dict = {}


class Quick(Operation):
    """Completes at once with a data product."""

    name = "Test Quick"
    menu_order = 910
    inputs = (InputSpec("label", "Label", "Any text", "string", required=False, default="quick"),)

    def run(self, ctx):
        ctx.progress(0.5, "Halfway")
        ctx.set_data({"label": ctx.params.get("label", "quick")})


class FlakyStore(Operation):
    """The file store fails on the first attempt only."""

    name = "Test Flaky Store"
    menu_order = 911

    def run(self, ctx):
        row = OperationRun.objects.get(key=ctx.key)
        SEEN.setdefault("attempts", []).append(row.attempt)
        if row.attempt == 1:
            raise FileStoreUnavailable("The file store cannot be reached; try again later.")
        ctx.set_data({"attempt": row.attempt})


class DeadStore(Operation):
    """The file store never answers."""

    name = "Test Dead Store"
    menu_order = 912

    def run(self, ctx):
        SEEN.setdefault("attempts", []).append(OperationRun.objects.get(key=ctx.key).attempt)
        raise FileStoreUnavailable("The file store cannot be reached; try again later.")


class Interrupted(Operation):
    """Reports progress, lets the test act while it runs (SEEN["while_running"]), then reports again."""

    name = "Test Interrupted"
    menu_order = 913

    def run(self, ctx):
        ctx.progress(0.2, "Started")
        SEEN["while_running"]()
        ctx.progress(0.4, "Going on")
        SEEN["finished"] = True
        ctx.set_data({})


@pytest.fixture
def test_operations():
    SEEN.clear()
    register_operations(extra_modules=(__name__,))
    yield SEEN
    register_operations()
    SEEN.clear()


@pytest.fixture
def session(observer):
    now = timezone.now()
    return DataSession.objects.create(user=observer, name="Housekeeping", modified=now, accessed=now)


def make_run(session, *, name="Test Quick", status=RunStatus.PENDING, parents=(), **fields) -> OperationRun:
    """A run as a submission leaves it (with an operation of `session`, unless None), in any state."""
    run = OperationRun.objects.create(
        key=uuid.uuid4().hex + uuid.uuid4().hex,
        name=name,
        version=1,
        inputs={"params": {}, "files": {}},
        status=status,
        **fields,
    )
    run.parents.set(parents)
    if session is not None:
        DataOperation.objects.create(session=session, name=name, input_data={}, run=run)
    return run


def ago(**delta) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(**delta)


def housekeeping() -> str:
    out = io.StringIO()
    call_command("datalab_housekeeping", stdout=out)
    return out.getvalue()


# --- Housekeeping ---------------------------------------------------------------------------------------------------


def test_abandoned_runs_fail_with_their_waiting_children(session):
    abandoned = make_run(
        session, status=RunStatus.IN_PROGRESS, attempt=1, started_at=ago(minutes=30), heartbeat_at=ago(minutes=11)
    )
    child = make_run(session, parents=[abandoned])
    grandchild = make_run(session, parents=[child])
    alive = make_run(session, status=RunStatus.IN_PROGRESS, attempt=1, heartbeat_at=ago(minutes=9))

    assert "Failed 1 abandoned run(s)" in housekeeping()
    abandoned.refresh_from_db()
    assert (abandoned.status, abandoned.message) == (RunStatus.FAILED, ABANDONED)
    assert abandoned.finished_at is not None
    child.refresh_from_db()
    assert (child.status, child.message) == (RunStatus.FAILED, f"An input operation failed (Test Quick): {ABANDONED}")
    grandchild.refresh_from_db()
    assert grandchild.status == RunStatus.FAILED
    assert grandchild.message == f"An input operation failed (Test Quick): {child.message}"
    alive.refresh_from_db()
    assert alive.status == RunStatus.IN_PROGRESS and alive.message == ""


def test_the_operation_get_fails_an_abandoned_run(observer_client, session):
    run = make_run(session, status=RunStatus.IN_PROGRESS, attempt=1, heartbeat_at=ago(minutes=10, seconds=5))
    child = make_run(session, parents=[run])
    operation = run.operations.get()
    body = observer_client.get(f"/api/datasessions/{session.pk}/operations/{operation.pk}/").json()
    assert (body["status"], body["message"]) == ("FAILED", ABANDONED)
    assert body["finished"] is not None
    child.refresh_from_db()
    assert (child.status, child.message) == (RunStatus.FAILED, f"An input operation failed (Test Quick): {ABANDONED}")

    # A run still beating is left alone.
    busy = make_run(session, status=RunStatus.IN_PROGRESS, attempt=1, heartbeat_at=ago(minutes=9))
    busy_operation = busy.operations.get()
    body = observer_client.get(f"/api/datasessions/{session.pk}/operations/{busy_operation.pk}/").json()
    assert body["status"] == "IN_PROGRESS"


def test_lost_publications_are_republished_once_their_parents_are_done(session, test_operations, settings):
    never_sent = make_run(session)
    lost = make_run(session, enqueued_at=ago(seconds=settings.DATALAB_STALE_AFTER_SECONDS + 60))
    in_flight = make_run(session, enqueued_at=ago(seconds=5))
    # A run waiting for its retry after a storage error counts as enqueued from when the retry is due.
    retry_due_later = make_run(session, enqueued_at=timezone.now() + datetime.timedelta(seconds=300))
    parent = make_run(session, status=RunStatus.IN_PROGRESS, attempt=1, heartbeat_at=timezone.now())
    waiting = make_run(session, parents=[parent])
    done_parent = make_run(session, status=RunStatus.COMPLETED, output={"output_files": [], "output_data": []})
    ready = make_run(session, parents=[done_parent])
    unreferenced = make_run(None)

    assert "republished 3" in housekeeping()
    for run in (never_sent, lost, ready):
        run.refresh_from_db()
        # Eager execution: republishing ran it.
        assert run.status == RunStatus.COMPLETED, run.message
        assert run.output["output_data"] == [{"label": "quick"}] and run.attempt == 1
    for run in (in_flight, retry_due_later, waiting, unreferenced):
        run.refresh_from_db()
        assert run.status == RunStatus.PENDING
    waiting.refresh_from_db()
    assert waiting.enqueued_at is None


def stored_product(run: OperationRun) -> list[str]:
    """Store a FITS and its previews for the run, recorded in its manifest as the worker does; the storage keys."""
    storage = product_storage()
    keys = {
        kind: storage.save(product_key(run.key, f"{run.key}{suffix}"), ContentFile(b"product"))
        for kind, suffix in (("fits", ".fits"), ("large", "-large.jpg"), ("small", "-small.jpg"))
    }
    run.output = {
        "output_files": [{"basename": run.key, "source": "datalab", "type": "fits", "keys": keys}],
        "output_data": [],
    }
    run.save(update_fields=["output"])
    return list(keys.values())


def test_old_orphans_go_with_their_files_after_the_commit(session, settings, django_capture_on_commit_callbacks):
    days = settings.DATALAB_ORPHAN_RETENTION_DAYS
    old = ago(days=days, hours=1)
    orphan = make_run(None, status=RunStatus.COMPLETED, finished_at=old)
    orphan_files = stored_product(orphan)
    never_finished = make_run(None)
    OperationRun.objects.filter(pk=never_finished.pk).update(created=old)
    referenced = make_run(session, status=RunStatus.COMPLETED, finished_at=old)
    referenced_files = stored_product(referenced)
    recent = make_run(None, status=RunStatus.FAILED, finished_at=ago(days=days - 1))
    needed = make_run(None, status=RunStatus.COMPLETED, finished_at=old)  # a pending child still needs its product
    make_run(session, parents=[needed], enqueued_at=timezone.now())
    being_read = make_run(None, status=RunStatus.COMPLETED, finished_at=old)  # a running child reads its product
    make_run(session, parents=[being_read], status=RunStatus.IN_PROGRESS, attempt=1, heartbeat_at=timezone.now())
    storage = product_storage()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert "removed 2 orphan run(s)" in housekeeping()
    assert not OperationRun.objects.filter(pk__in=[orphan.pk, never_finished.pk]).exists()
    assert OperationRun.objects.filter(pk__in=[referenced.pk, recent.pk, needed.pk, being_read.pk]).count() == 4
    # The files wait for the commit: a rolled-back deletion must not lose them.
    assert all(storage.exists(key) for key in orphan_files)
    for callback in callbacks:
        callback()
    assert not any(storage.exists(key) for key in orphan_files)
    assert all(storage.exists(key) for key in referenced_files)


# --- Admin ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(superuser):
    client = Client()
    client.force_login(superuser)
    return client


def test_admin_changelists_load_with_status_filters(admin_client, session):
    failed = make_run(session, status=RunStatus.FAILED, message="It broke")
    done = make_run(session, status=RunStatus.COMPLETED)
    for path in ("/admin/datalab/datasession/", "/admin/datalab/dataoperation/", "/admin/datalab/operationrun/"):
        assert admin_client.get(path).status_code == 200, path
    runs = admin_client.get("/admin/datalab/operationrun/?status__exact=FAILED")
    assert runs.status_code == 200
    assert list(runs.context["cl"].result_list) == [failed]
    operations = admin_client.get("/admin/datalab/dataoperation/?run__status__exact=COMPLETED")
    assert operations.status_code == 200
    assert [operation.run_id for operation in operations.context["cl"].result_list] == [done.pk]
    assert admin_client.get(f"/admin/datalab/operationrun/{failed.pk}/change/").status_code == 200
    assert admin_client.get(f"/admin/datalab/datasession/{session.pk}/change/").status_code == 200


def test_admin_runs_a_failed_run_again(admin_client, session, test_operations):
    failed = make_run(
        session,
        status=RunStatus.FAILED,
        message="The operation failed unexpectedly (reference 1.1).",
        error_detail="Traceback ...",
        attempt=1,
        finished_at=ago(hours=1),
    )
    done = make_run(session, status=RunStatus.COMPLETED, output={"output_files": [], "output_data": []})
    response = admin_client.post(
        "/admin/datalab/operationrun/",
        {"action": "run_again", "_selected_action": [failed.pk, done.pk]},
        follow=True,
    )
    assert response.status_code == 200
    failed.refresh_from_db()
    # Reset, published and (eagerly) run to the end: a fresh first attempt.
    assert failed.status == RunStatus.COMPLETED and failed.attempt == 1
    assert failed.message == "" and failed.error_detail == ""
    assert failed.output["output_data"] == [{"label": "quick"}]
    done.refresh_from_db()
    assert done.status == RunStatus.COMPLETED and done.attempt == 0


def test_admin_run_again_reports_what_it_did(admin_client, session, test_operations):
    failed = make_run(session, status=RunStatus.FAILED, message="It broke", attempt=1)
    done = make_run(session, status=RunStatus.COMPLETED, output={"output_files": [], "output_data": []})
    response = admin_client.post(
        "/admin/datalab/operationrun/", {"action": "run_again", "_selected_action": [failed.pk, done.pk]}, follow=True
    )
    assert [str(m) for m in response.context["messages"]] == ["1 run(s) queued again; 1 not failed, left as they were."]


def test_admin_refuses_to_run_a_running_run_again(admin_client, session, test_operations):
    running = make_run(session, status=RunStatus.IN_PROGRESS, attempt=1, heartbeat_at=timezone.now())
    pending = make_run(session)
    response = admin_client.post(
        "/admin/datalab/operationrun/",
        {"action": "run_again", "_selected_action": [running.pk, pending.pk]},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == [
        "0 run(s) queued again; 2 not failed, left as they were.",
        "Refused for 2 run(s) still pending or in progress: only a failed run can be run again.",
    ]
    running.refresh_from_db()
    assert (running.status, running.attempt) == (RunStatus.IN_PROGRESS, 1)
    pending.refresh_from_db()
    assert (pending.status, pending.attempt, pending.enqueued_at) == (RunStatus.PENDING, 0, None)


def test_admin_runs_the_failed_runs_of_selected_operations_again(admin_client, session, test_operations):
    failed = make_run(session, status=RunStatus.FAILED, message="It broke", attempt=1)
    running = make_run(session, status=RunStatus.IN_PROGRESS, attempt=1, heartbeat_at=timezone.now())
    operations = [failed.operations.get().pk, running.operations.get().pk]
    response = admin_client.post(
        "/admin/datalab/dataoperation/", {"action": "run_again", "_selected_action": operations}, follow=True
    )
    assert [str(m) for m in response.context["messages"]][
        0
    ] == "1 run(s) queued again; 1 not failed, left as they were."
    failed.refresh_from_db()
    assert failed.status == RunStatus.COMPLETED and failed.attempt == 1
    running.refresh_from_db()
    assert running.status == RunStatus.IN_PROGRESS


def test_admin_run_again_with_the_queue_down_leaves_the_run_for_housekeeping(
    admin_client, session, refusing_broker, test_operations
):
    first = make_run(session, status=RunStatus.FAILED, message="It broke", attempt=1)
    second = make_run(session, status=RunStatus.FAILED, message="It broke too", attempt=1)
    response = admin_client.post(
        "/admin/datalab/operationrun/", {"action": "run_again", "_selected_action": [first.pk, second.pk]}, follow=True
    )
    assert response.status_code == 200
    (message,) = [str(m) for m in response.context["messages"]]
    assert message.startswith("The task queue is unavailable")
    runs = {run.pk: run for run in OperationRun.objects.filter(pk__in=[first.pk, second.pk])}
    # The first was reset (pending, unpublished: housekeeping publishes it); the other was left failed.
    assert sorted(run.status for run in runs.values()) == [RunStatus.FAILED, RunStatus.PENDING]
    assert all(run.enqueued_at is None for run in runs.values())


def test_admin_sessions_filter_by_the_status_of_their_operations(admin_client, observer, session):
    make_run(session, status=RunStatus.FAILED)
    now = timezone.now()
    quiet = DataSession.objects.create(user=observer, name="Quiet", modified=now, accessed=now)
    make_run(quiet, status=RunStatus.COMPLETED)
    DataSession.objects.create(user=observer, name="Empty", modified=now, accessed=now)

    def listed(query):
        response = admin_client.get(f"/admin/datalab/datasession/{query}")
        assert response.status_code == 200
        return sorted(s.name for s in response.context["cl"].result_list)

    assert listed("?operation_status=FAILED") == ["Housekeeping"]
    assert listed("?operation_status=COMPLETED") == ["Quiet"]
    assert listed("?operation_status=PENDING") == []
    assert listed("") == ["Empty", "Housekeeping", "Quiet"]


def test_admin_viewers_cannot_run_again(make_user, session, test_operations):
    viewer = make_user("viewer", staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="datalab", codename__startswith="view_")
    )
    client = Client()
    client.force_login(viewer)
    failed = make_run(session, status=RunStatus.FAILED, message="It broke", attempt=1)
    page = client.get("/admin/datalab/operationrun/")
    assert page.status_code == 200 and "run_again" not in page.content.decode()
    client.post("/admin/datalab/operationrun/", {"action": "run_again", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert failed.status == RunStatus.FAILED


def test_admin_operation_list_reads_its_runs_and_sessions_in_one_query(admin_client, session):
    make_run(session)
    with CaptureQueriesContext(connection) as one:
        assert admin_client.get("/admin/datalab/dataoperation/").status_code == 200
    for _ in range(4):
        make_run(session, status=RunStatus.FAILED)
    with CaptureQueriesContext(connection) as five:
        response = admin_client.get("/admin/datalab/dataoperation/")
    assert len(response.context["cl"].result_list) == 5
    assert len(five.captured_queries) == len(one.captured_queries)


# --- Retries, cancellation, a refusing broker ----------------------------------------------------------------------


class RecordedClaims(list):
    """(status, message, attempt) per delivery; `enqueued` holds each delivery's `enqueued_at`."""

    enqueued: list


@pytest.fixture
def claims(monkeypatch):
    """The run's row as each delivery finds it, before claiming it: what the previous attempt left behind."""
    seen = RecordedClaims()
    enqueued = []
    original = services.run_claim

    def recording_claim(*, run_id, task_id=""):
        row = OperationRun.objects.get(pk=run_id)
        seen.append((row.status, row.message, row.attempt))
        enqueued.append(row.enqueued_at)
        return original(run_id=run_id, task_id=task_id)

    monkeypatch.setattr(services, "run_claim", recording_claim)
    seen.enqueued = enqueued
    return seen


def submit(client, session_id, name, input_data=None):
    return client.post(
        f"/api/datasessions/{session_id}/operations/", {"name": name, "input_data": input_data or {}}, format="json"
    )


def test_a_storage_error_is_retried_and_the_retry_completes(observer_client, test_operations, claims):
    session = make_session(observer_client)
    response = submit(observer_client, session["id"], "Test Flaky Store")
    assert response.status_code == 201, response.content
    # Eager execution: Celery's retry re-runs the task at once, inside the request.
    body = response.json()
    assert body["status"] == "COMPLETED", body["message"]
    assert body["output"]["output_data"] == [{"attempt": 2}]
    assert test_operations["attempts"] == [1, 2]
    assert claims == [
        (RunStatus.PENDING, "", 0),
        (RunStatus.PENDING, "Waiting to retry after a storage error (attempt 1 of 3)", 1),
    ]
    run = OperationRun.objects.get()
    assert run.status == RunStatus.COMPLETED and run.attempt == 2 and run.message == ""
    # While it waited, the run counted as enqueued from when its retry (10 s later) was due: housekeeping leaves it.
    assert (claims.enqueued[1] - claims.enqueued[0]).total_seconds() > 9


def test_a_store_that_never_answers_fails_after_the_last_attempt(observer_client, test_operations, claims, settings):
    session = make_session(observer_client)
    body = submit(observer_client, session["id"], "Test Dead Store").json()
    attempts = settings.DATALAB_MAX_ATTEMPTS
    assert body["status"] == "FAILED"
    assert body["message"] == f"The operation stopped unexpectedly {attempts} times; contact the archive staff."
    assert test_operations["attempts"] == list(range(1, attempts + 1))
    assert [message for _, message, _ in claims[1:]] == [
        f"Waiting to retry after a storage error (attempt {k} of {attempts})" for k in range(1, attempts)
    ]
    run = OperationRun.objects.get()
    assert run.attempt == attempts and "FileStoreUnavailable" in run.error_detail
    assert "error_detail" not in body


def test_deleting_the_last_operation_cancels_its_run(observer_client, session, test_operations, monkeypatch):
    # Every progress report is written (and so sees the cancellation) rather than at most one a second.
    monkeypatch.setattr(execution, "PROGRESS_INTERVAL_SECONDS", 0)
    run = make_run(session, name="Test Interrupted")
    operation = run.operations.get()
    path = f"/api/datasessions/{session.pk}/operations/{operation.pk}/"
    seen = {}

    def delete_while_running():
        seen["status"] = OperationRun.objects.get(pk=run.pk).status
        seen["deleted"] = observer_client.delete(path).status_code
        seen["cancel_requested"] = OperationRun.objects.get(pk=run.pk).cancel_requested

    test_operations["while_running"] = delete_while_running
    execute_run.apply(args=[run.pk])
    assert seen == {"status": RunStatus.IN_PROGRESS, "deleted": 204, "cancel_requested": True}
    assert "finished" not in test_operations  # stopped at its next progress report
    run.refresh_from_db()
    assert (run.status, run.message) == (RunStatus.FAILED, "Cancelled")
    assert run.finished_at is not None


def test_a_cancelled_run_that_never_started_fails_its_dependents(
    observer_client, session, test_operations, django_capture_on_commit_callbacks
):
    parent = make_run(session, enqueued_at=timezone.now())
    child = make_run(session, parents=[parent])
    parent_operation = parent.operations.get()
    path = f"/api/datasessions/{session.pk}/operations/{parent_operation.pk}/"
    assert observer_client.delete(path).status_code == 204
    parent.refresh_from_db()
    assert parent.cancel_requested is True

    # Its message is delivered later: the run ends there, and the child that waited for it must not wait forever.
    with django_capture_on_commit_callbacks(execute=True):
        execute_run.apply(args=[parent.pk])
    parent.refresh_from_db()
    assert (parent.status, parent.message, parent.attempt) == (RunStatus.FAILED, "Cancelled", 0)
    child.refresh_from_db()
    assert (child.status, child.message) == (RunStatus.FAILED, "An input operation failed (Test Quick): Cancelled")


def test_deleting_one_of_two_operations_does_not_cancel(observer_client, session, test_operations):
    run = make_run(session, status=RunStatus.IN_PROGRESS, attempt=1, heartbeat_at=timezone.now())
    DataOperation.objects.create(session=session, name=run.name, input_data={}, run=run)
    first = run.operations.order_by("id").first()
    assert observer_client.delete(f"/api/datasessions/{session.pk}/operations/{first.pk}/").status_code == 204
    run.refresh_from_db()
    assert run.cancel_requested is False


def test_a_refusing_broker_leaves_nothing_behind(observer_client, session, refusing_broker, test_operations):
    response = submit(observer_client, session.pk, "Test Quick", {"label": "never"})
    body = assert_error(response, 503, QUEUE_UNAVAILABLE)
    assert set(body) == {"detail", "error"}
    assert response["Retry-After"] == "30"
    assert not DataOperation.objects.exists()
    assert not OperationRun.objects.exists()

    # A failed run another operation shares: this request's operation goes, the shared run stays, reset and
    # unpublished, for housekeeping to publish once the broker is back.
    key = services.dedupe_key(name="Test Quick", version=1, params={"label": "shared"}, files={})
    shared = make_run(session, status=RunStatus.FAILED, message="It broke", attempt=1)
    OperationRun.objects.filter(pk=shared.pk).update(key=key)
    assert_error(submit(observer_client, session.pk, "Test Quick", {"label": "shared"}), 503, QUEUE_UNAVAILABLE)
    assert list(DataOperation.objects.values_list("run_id", flat=True)) == [shared.pk]
    shared.refresh_from_db()
    assert shared.status == RunStatus.PENDING and shared.enqueued_at is None


# --- Progress of the command -------------------------------------------------------------------------------------


def test_housekeeping_logs_the_progress_of_each_phase_with_runs_then_its_summary(session, settings):
    for _ in range(2):
        make_run(
            session, status=RunStatus.IN_PROGRESS, attempt=1, started_at=ago(minutes=30), heartbeat_at=ago(hours=1)
        )
    old = ago(days=settings.DATALAB_ORPHAN_RETENTION_DAYS, hours=1)
    for _ in range(3):
        make_run(None, status=RunStatus.COMPLETED, finished_at=old)
    lines = housekeeping().splitlines()
    abandoned = [line for line in lines if line.startswith("datalab_housekeeping (abandoned runs): ")]
    orphans = [line for line in lines if line.startswith("datalab_housekeeping (orphan runs): ")]
    assert [line.split(": ")[1].split(",")[0] for line in abandoned] == ["1/2 runs (50%)", "2/2 runs (100%)"]
    assert [line.split(": ")[1].split(",")[0] for line in orphans] == [
        "1/3 runs (33%)",
        "2/3 runs (66%)",
        "3/3 runs (100%)",
    ]
    assert all(" runs/s" in line for line in abandoned + orphans)
    # No run lost its publication: that phase says nothing.
    assert len(lines) == len(abandoned) + len(orphans) + 1
    assert lines[-1] == "Failed 2 abandoned run(s), republished 0, removed 3 orphan run(s)."


def test_housekeeping_draws_a_bar_per_phase_on_a_terminal(session, settings):
    make_run(None, status=RunStatus.COMPLETED, finished_at=ago(days=settings.DATALAB_ORPHAN_RETENTION_DAYS, hours=1))

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    call_command("datalab_housekeeping", stdout=out)
    text = out.getvalue()
    assert text.startswith("\rdatalab_housekeeping (orphan runs):   0%|")
    assert "\rdatalab_housekeeping (orphan runs): 100%|##########| 1/1 [" in text
    assert text.endswith("]\nFailed 0 abandoned run(s), republished 0, removed 1 orphan run(s).\n")
