"""A real Celery worker on a real RabbitMQ: every status transition, a dependency chain, a failed parent failing its
children, a worker killed mid-run whose run is taken over, a time limit, and a crash that ends FAILED."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from conftest import celery_publishing_to
from datalab.models import DataOperation, OperationRun, RunStatus
from datalab.operations.base import register_operations
from datalab.tests.test_api import make_session

pytestmark = pytest.mark.django_db(transaction=True)

TIME_LIMIT_SECONDS = 8
STALE_AFTER_SECONDS = 3


class Worker:
    """`celery worker` in a session of its own (so that it can be killed whole), on the test database."""

    def __init__(self, broker_url: str, base: Path):
        self.base = base
        self.products = base / "products"
        self.files = base / "files"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "datalab.tests.worker_settings",
            "DATALAB_TEST_DB_NAME": connection.settings_dict["NAME"],
            "QUEUE_BROKER_URL": broker_url,
            "DATALAB_PRODUCTS_ROOT": str(self.products),
            "FILESTORE_LOCAL_ROOT": str(self.files),
            "TEMP_FITS_DIR": str(base / "scratch"),
            "DATALAB_EXTRA_OPERATION_MODULES": "datalab.tests.testing_operations",
            "DATALAB_TIME_LIMIT_SECONDS": str(TIME_LIMIT_SECONDS),
            "DATALAB_HEARTBEAT_SECONDS": "1",
            "DATALAB_STALE_AFTER_SECONDS": str(STALE_AFTER_SECONDS),
        }
        self.process: subprocess.Popen | None = None
        self.log = base / "worker.log"

    def start(self) -> None:
        name = f"datalab-test-{uuid.uuid4().hex[:8]}@localhost"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "archive",
                    "worker",
                    "-Q",
                    "datalab",
                    "-c",
                    "1",
                    "-n",
                    name,
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-l",
                    "info",
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while b" ready." not in self.log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"The worker did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL to the worker and its pool: nothing is acknowledged, nothing cleaned up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def worker(rabbitmq, tmp_path, settings):
    """A live worker for this test, the test process publishing to the same broker, and the test-only
    operations offered on both sides."""
    base = tmp_path / "worker"
    base.mkdir()
    running = Worker(rabbitmq.url, base)
    settings.FILESTORE_LOCAL_ROOT = running.files
    settings.DATALAB_TIME_LIMIT_SECONDS = TIME_LIMIT_SECONDS
    settings.STORAGES = {
        **settings.STORAGES,
        "datalab": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": running.products},
        },
    }
    register_operations(extra_modules=("datalab.tests.testing_operations",))
    with celery_publishing_to(rabbitmq.url):
        running.start()
        try:
            yield running
        finally:
            running.stop()
            register_operations()


def submit(client, session, name, input_data) -> dict:
    response = client.post(
        f"/api/datasessions/{session['id']}/operations/", {"name": name, "input_data": input_data}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def poll(client, session, operation, *, until=("COMPLETED", "FAILED"), timeout=60) -> list[dict]:
    """Every answer of GET operation, as the front-end polls it (faster), until a final status."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/datasessions/{session['id']}/operations/{operation['id']}/").json()
        seen.append(body)
        if body["status"] in until:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"Still {seen[-1]['status']} after {timeout} s: {seen[-1]}")


def test_every_status_transition(worker, observer_client):
    session = make_session(observer_client)
    operation = submit(observer_client, session, "Test Sleep", {"seconds": 2})
    assert operation["status"] == "PENDING"
    seen = poll(observer_client, session, operation)
    statuses = [body["status"] for body in seen]
    assert statuses[-1] == "COMPLETED", seen[-1]
    assert "IN_PROGRESS" in statuses
    progress = [body["operation_progress"] for body in seen if body["status"] == "IN_PROGRESS"]
    assert any(0 < value < 1 for value in progress)
    assert progress == sorted(progress)
    assert statuses.index("IN_PROGRESS") < statuses.index("COMPLETED")
    assert seen[-1]["operation_progress"] == 1.0
    (product,) = seen[-1]["output"]["output_files"]
    assert product["fits_url"] and product["large_url"] and product["small_url"]
    run = OperationRun.objects.get()
    assert run.attempt == 1 and run.worker and run.task_id


def test_dependency_chain_and_failed_parent(worker, observer_client):
    session = make_session(observer_client)
    parent = submit(observer_client, session, "Test Sleep", {"seconds": 2})
    parent_key = DataOperation.objects.get(pk=parent["id"]).run.key
    product = {"source": "datalab", "basename": parent_key, "operation": parent["id"]}
    child = submit(observer_client, session, "Normalization", {"input_files": [product]})
    child_run = DataOperation.objects.get(pk=child["id"]).run
    assert child["status"] == "PENDING" and child_run.enqueued_at is None  # waits, unpublished, for its parent
    seen = poll(observer_client, session, child)
    assert seen[-1]["status"] == "COMPLETED", seen[-1]
    assert DataOperation.objects.get(pk=parent["id"]).run.status == RunStatus.COMPLETED

    failing = submit(observer_client, session, "Test Fail Later", {"seconds": 1.5})
    failing_key = DataOperation.objects.get(pk=failing["id"]).run.key
    orphan = submit(
        observer_client, session, "Normalization", {"input_files": [{"source": "datalab", "basename": failing_key}]}
    )
    grandchild_input = {"source": "datalab", "basename": DataOperation.objects.get(pk=orphan["id"]).run.key + "-1"}
    grandchild = submit(observer_client, session, "Normalization", {"input_files": [grandchild_input]})
    assert poll(observer_client, session, failing)[-1]["message"] == "The test operation failed on purpose."
    for dependent in (orphan, grandchild):
        final = poll(observer_client, session, dependent)[-1]
        assert final["status"] == "FAILED"
        assert final["message"].startswith("An input operation failed (")
    assert "The test operation failed on purpose." in poll(observer_client, session, orphan)[-1]["message"]


def test_killed_worker_is_taken_over(worker, observer_client):
    session = make_session(observer_client)
    operation = submit(observer_client, session, "Test Sleep", {"seconds": 4})
    poll(observer_client, session, operation, until=("IN_PROGRESS",))
    worker.kill()
    worker.start()
    seen = poll(observer_client, session, operation, timeout=90)
    assert seen[-1]["status"] == "COMPLETED", seen[-1]
    run = OperationRun.objects.get()
    assert run.attempt == 2


def test_time_limit_and_crash_end_failed(worker, observer_client):
    session = make_session(observer_client)
    slow = submit(observer_client, session, "Test Sleep", {"seconds": TIME_LIMIT_SECONDS * 5})
    crash = submit(observer_client, session, "Test Crash", {})
    final = poll(observer_client, session, slow, timeout=TIME_LIMIT_SECONDS * 4)[-1]
    assert final["status"] == "FAILED"
    assert final["message"] == f"The operation exceeded its time limit of {TIME_LIMIT_SECONDS / 60:g} minutes."
    crashed = poll(observer_client, session, crash)[-1]
    run = DataOperation.objects.get(pk=crash["id"]).run
    assert crashed["message"] == f"The operation failed unexpectedly (reference {run.pk}.1)."
    assert "an unexpected bug" in run.error_detail and "error_detail" not in crashed
