"""A live server under a bounded mixed load (reads of every kind beside ingests), and the database dropping every
connection mid-run: no error in either, and the figures of the load printed."""

import json
import os
import statistics
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from conftest import VENV_BIN, free_port, wait_for_http
from frames.models import Frame
from frames.tests.factories import FrameFactory, ingest_body

pytestmark = pytest.mark.django_db(transaction=True)

# Bounded in count and in time: the load stops at whichever comes first.
READERS, INGESTERS = 4, 2
MAX_REQUESTS_EACH, MAX_SECONDS = 40, 20
READ_PATHS = [
    "/frames/",
    "/frames/?start=2024-05-01&end=2024-05-02",
    "/frames/?covers=POINT(202.47 47.19)",
    "/frames/?ra=202.47&dec=47.19&radius=0.5",
    "/frames/?target_name=M5",
    "/frames/aggregate/?start=2024-05-01&end=2024-05-31&public=true",
    "/downtimes/api/",
    "/health/",
]


def test_a_mixed_read_and_ingest_load_has_no_errors(live_server, superuser, capsys):
    FrameFactory.create_batch(30)
    token = Token.objects.get(user=superuser).key
    deadline = time.monotonic() + MAX_SECONDS
    latencies: dict[str, list[float]] = {"read": [], "ingest": []}
    failures: list[tuple[str, int]] = []
    lock = threading.Lock()

    def record(kind: str, path: str, started: float, status: int, good: set[int]) -> None:
        with lock:
            latencies[kind].append((time.monotonic() - started) * 1000)
            if status not in good:
                failures.append((path, status))

    def reader(number: int) -> None:
        session = requests.Session()
        for index in range(MAX_REQUESTS_EACH):
            if time.monotonic() > deadline:
                return
            path = READ_PATHS[(number + index) % len(READ_PATHS)]
            started = time.monotonic()
            status = session.get(f"{live_server.url}{path}", timeout=30).status_code
            record("read", path, started, status, {200})

    def ingester(number: int) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        for index in range(MAX_REQUESTS_EACH):
            if time.monotonic() > deadline:
                return
            body = ingest_body(f"load-{number}-{index}-{uuid.uuid4().hex[:6]}")
            started = time.monotonic()
            status = session.post(f"{live_server.url}/frames/", data=json.dumps(body), headers=headers, timeout=30)
            record("ingest", "/frames/ (POST)", started, status.status_code, {201})

    with ThreadPoolExecutor(max_workers=READERS + INGESTERS) as pool:
        jobs = [pool.submit(reader, n) for n in range(READERS)] + [pool.submit(ingester, n) for n in range(INGESTERS)]
        for job in jobs:
            job.result()
    assert failures == []
    assert Frame.objects.filter(basename__startswith="load-").count() == len(latencies["ingest"])
    with capsys.disabled():
        for kind, values in latencies.items():
            p95 = statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]
            print(
                f"\n  load: {len(values)} {kind}s, 0 errors, p50 {statistics.median(values):.1f} ms, p95 {p95:.1f} ms"
            )


@pytest.fixture
def gunicorn_server():
    """gunicorn as the Dockerfile runs it (gthread workers), on the test database, on a free loopback port."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "archive.tests.server_settings",
        "ARCHIVE_TEST_DB_NAME": connection.settings_dict["NAME"],
    }
    process = subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"),
            "archive.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            "-k",
            "gthread",
            "--threads",
            "4",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health/")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_requests_succeed_after_the_database_drops_the_servers_connections(gunicorn_server):
    """As after a restart or a failover: the persistent connections a server keeps between requests are gone; the
    next requests reconnect (connections are health-checked before reuse) instead of failing."""
    FrameFactory()
    session = requests.Session()
    assert [session.get(f"{gunicorn_server}/frames/", timeout=30).status_code for _ in range(4)] == [200] * 4
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'archive-test-server'"
        )
        assert cursor.fetchone()[0] >= 1  # the server's kept connections
    assert [session.get(f"{gunicorn_server}/frames/", timeout=30).status_code for _ in range(4)] == [200] * 4
