"""Fixtures shared by every app's tests: users, API clients, a real S3 endpoint (moto server) and a fake configdb."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from rest_framework.test import APIClient

from archive.filestore import reset_filestore
from archive.localnodes import RABBITMQ_BIN, RabbitMQNode, free_port, memcached

VENV_BIN = Path(sys.executable).parent


def wait_for_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="session")
def s3_endpoint():
    """A moto S3 server in its own process on a free loopback port, one per test worker."""
    port = free_port()
    process = subprocess.Popen(
        [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing-access-key",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
    "AWS_DEFAULT_REGION": "us-west-2",
}


@pytest.fixture
def s3_bucket(s3_endpoint, settings, monkeypatch):
    """A fresh versioned bucket on the moto server, and the project configured to use it."""
    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = f"archive-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-west-2")
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    settings.FILESTORE_TYPE = "s3"
    settings.AWS_BUCKET = bucket
    settings.S3_ENDPOINT_URL = s3_endpoint
    settings.AWS_DEFAULT_REGION = "us-west-2"
    reset_filestore()
    yield {"name": bucket, "client": client, "endpoint": s3_endpoint}
    reset_filestore()


@pytest.fixture(autouse=True)
def _isolated_state(settings, tmp_path):
    """Each test gets its own local file store and an empty cache."""
    from django.core.cache import cache

    settings.FILESTORE_LOCAL_ROOT = tmp_path / "files"
    reset_filestore()
    cache.clear()
    yield
    reset_filestore()


# The suites that prove nothing is lost and nobody gets in: faults of real components, concurrency, fuzzing, the
# permission matrix, bounded bodies and queries. They run in `make test` with the rest, and alone as
# `make test-reliability` (the README's "Reliability" section names what each proves).
RELIABILITY_MODULES = {
    "frames/tests/test_notifications.py",
    "frames/tests/test_ingest_concurrency.py",
    "frames/tests/test_fuzz_params.py",
    "frames/tests/test_public_boundary.py",
    "frames/tests/test_visibility.py",
    "frames/tests/test_upload.py",
    "frames/tests/test_admin.py",
    "authentication/tests/test_permission_matrix.py",
    "authentication/tests/test_throttling.py",
    "downtimes/tests/test_filters.py",
    "archive/tests/test_request_limits.py",
    "archive/tests/test_statement_timeout.py",
    "archive/tests/test_filestore_errors.py",
    "archive/tests/test_deployment.py",
    "archive/tests/test_load_and_restart.py",
    "archive/tests/test_project.py",
    "datalab/tests/test_worker.py",
    "datalab/tests/test_housekeeping_admin.py",
    "datalab/tests/test_api.py",
    "archive/tests/test_schema_fuzz.py",
}


def pytest_collection_modifyitems(config, items):
    root = Path(__file__).parent
    for item in items:
        if Path(item.fspath).relative_to(root).as_posix() in RELIABILITY_MODULES:
            item.add_marker(pytest.mark.reliability)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Once a test's body is done, and before its fixtures go (the database's flush, the broker), the outbox relay
    finishes what the test queued and closes its connection: nothing reaches into the next test, and no connection
    is left to block the test database's removal."""
    yield
    from frames.notifications import outbox_relay

    assert outbox_relay.stop(timeout=30), "the outbox relay did not stop"


def configdb_site(code: str, enclosures: dict[str, dict[str, list[str]]]) -> dict:
    """A site as configdb's /sites/ returns it, from {enclosure: {telescope: [instrument type, ...]}}."""
    return {
        "id": abs(hash(code)) % 1000,
        "code": code,
        "active": True,
        "name": f"Site {code}",
        "elevation": 100,
        "enclosure_set": [
            {
                "id": e_index,
                "code": enclosure,
                "active": True,
                "name": f"Enclosure {enclosure}",
                "telescope_set": [
                    {
                        "id": t_index,
                        "code": telescope,
                        "active": True,
                        "name": telescope,
                        "instrument_set": [
                            {
                                "id": i_index,
                                "code": f"inst{i_index:02d}",
                                "state": "SCHEDULABLE" if i_index % 2 else "DISABLED",
                                "instrument_type": {"id": i_index, "code": instrument_type, "name": instrument_type},
                            }
                            for i_index, instrument_type in enumerate(instrument_types)
                        ],
                    }
                    for t_index, (telescope, instrument_types) in enumerate(telescopes.items())
                ],
            }
            for e_index, (enclosure, telescopes) in enumerate(enclosures.items())
        ],
    }


class FakeConfigDB:
    """configdb on a loopback port: `/sites/` in configdb's shape (paginated) and `/instruments/`, or any failure on
    demand.

    `sites`, `instruments` and `page_size` set the answers; `status` answers that status instead; `body` sends those
    raw bytes (e.g. malformed JSON) with `status`; `hang_seconds` holds each answer back that long. `requests` lists
    the paths asked.
    `refused_url()` is a base URL where nothing listens, so connections are refused.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeConfigDBHandler)
        self.server.daemon_threads = True
        self.server.fake = self
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.reset()

    def reset(self) -> None:
        self.release.set()  # lets any held-back answer of a previous test finish at once
        with self.lock:
            self.sites: list[dict] = []
            self.instruments: list[dict] = []
            self.page_size = 1000
            self.status = 200
            self.body: bytes | None = None
            self.hang_seconds = 0.0
            self.requests: list[str] = []
        self.release = threading.Event()

    def count(self, path: str = "/sites/") -> int:
        with self.lock:
            return sum(1 for asked in self.requests if urlsplit(asked).path == path)

    @staticmethod
    def refused_url() -> str:
        return f"http://127.0.0.1:{free_port()}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class _FakeConfigDBHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        fake: FakeConfigDB = self.server.fake
        with fake.lock:
            fake.requests.append(self.path)
            status, body, hang, release = fake.status, fake.body, fake.hang_seconds, fake.release
            sites, page_size = list(fake.sites), fake.page_size
            instruments = list(fake.instruments)
        if hang:
            release.wait(hang)
        if body is not None:
            return self._send(status, body)
        if status != 200:
            return self._send(status, b'{"detail": "configdb is having a bad day"}')
        parts = urlsplit(self.path)
        if parts.path == "/instruments/":
            page = {"count": len(instruments), "next": None, "previous": None, "results": instruments}
            return self._send(200, json.dumps(page).encode())
        if parts.path != "/sites/":
            return self._send(404, b'{"detail": "Not found."}')
        offset = int(parse_qs(parts.query).get("offset", ["0"])[0])
        more = offset + page_size < len(sites)
        page = {
            "count": len(sites),
            "next": f"{fake.url}/sites/?limit={page_size}&offset={offset + page_size}" if more else None,
            "previous": f"{fake.url}/sites/?limit={page_size}&offset={max(offset - page_size, 0)}" if offset else None,
            "results": sites[offset : offset + page_size],
        }
        return self._send(200, json.dumps(page).encode())


@pytest.fixture(scope="session")
def configdb_server():
    """One fake configdb per test worker, on its own free loopback port."""
    fake = FakeConfigDB()
    yield fake
    fake.close()


@pytest.fixture
def configdb(configdb_server, settings):
    """The fake configdb, emptied, with the project pointed at it (CONFIGDB_URL); the test sets its sites."""
    configdb_server.reset()
    settings.CONFIGDB_URL = configdb_server.url
    yield configdb_server
    configdb_server.reset()


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(username="archive-admin", password="admin-pass-123")


@pytest.fixture
def superuser_client(superuser):
    from rest_framework.authtoken.models import Token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=superuser).key}")
    return client


@pytest.fixture
def make_user(django_user_model):
    """A user with the given proposals; `staff` gives is_staff."""

    def make(username: str = "observer", proposals: list[str] | None = None, staff: bool = False):
        user = django_user_model.objects.create_user(username=username, password="observer-pass-123", is_staff=staff)
        user.profile.proposals = proposals or []
        user.profile.save()
        return user

    return make


def token_client(user) -> APIClient:
    from rest_framework.authtoken.models import Token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=user).key}")
    return client


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "test_settings")


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory):
    """A real RabbitMQ broker for this test worker."""
    if not (RABBITMQ_BIN / "rabbitmq-server").exists():
        pytest.fail("rabbitmq-server is missing: `make test` installs it (scripts/bootstrap.sh)")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    node = RabbitMQNode(tmp_path_factory.mktemp("rabbitmq"), f"archive-test-{worker}-{uuid.uuid4().hex[:6]}")
    node.start()
    yield node
    with contextlib.suppress(subprocess.SubprocessError):
        node.stop()


@pytest.fixture
def broker(rabbitmq, settings):
    """The project configured to publish to the real broker, with a fresh publisher."""
    from archive.messaging import reset_publisher

    settings.QUEUE_BROKER_URL = rabbitmq.url
    settings.PROCESSED_EXCHANGE_NAME = f"archived_fits_{uuid.uuid4().hex[:8]}"
    reset_publisher()
    yield rabbitmq
    reset_publisher()


@contextlib.contextmanager
def celery_publishing_to(url: str):
    """The test process publishes tasks to the broker at `url`, not eagerly, until the block ends.

    Celery makes its connection and producer pools once per process (a fork resets them the same way): they are
    dropped on the way in and out, so that publications connect to the broker the configuration names now.
    """
    from archive.celery import app as celery_app

    def forget_pools() -> None:
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    saved = {key: celery_app.conf[key] for key in ("broker_url", "task_always_eager")}
    celery_app.conf.update(broker_url=url, task_always_eager=False)
    forget_pools()
    try:
        yield
    finally:
        celery_app.conf.update(saved)
        forget_pools()


@pytest.fixture
def refusing_broker(settings):
    """Tasks and notifications published, not eagerly, to an AMQP port where nothing listens."""
    url = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    settings.QUEUE_BROKER_URL = url
    with celery_publishing_to(url):
        yield url


@pytest.fixture(scope="session")
def memcached_server():
    """A real memcached on a free loopback port for this test worker."""
    with memcached() as location:
        yield location


# --- a real browser -----------------------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless, offline and quiet: no sandbox (root in containers), no GPU, no background traffic to Google.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "test-artifacts"  # screenshots, kept by CI


@pytest.fixture
def chromium():
    """A headless chromium page; the Debian package is installed by `make setup-dev` (never `playwright install`).

    Request it after the fixtures that write to the database: while Playwright's event loop runs in this thread,
    Django refuses ORM calls from it (SynchronousOnlyOperation). The live server answers from its own thread.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `make setup-dev` (scripts/bootstrap.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(15000)
        yield page
        browser.close()


def pytest_configure(config):
    """The schema fuzz's workers write their figures into a directory of this run's (named in the environment, which
    the workers of pytest-xdist inherit); the summary below reads it."""
    if not hasattr(config, "workerinput"):
        import tempfile

        os.environ["SCHEMA_FUZZ_FIGURES"] = tempfile.mkdtemp(prefix="schema-fuzz-")


def pytest_terminal_summary(terminalreporter):
    """What the schema fuzz (archive/tests/test_schema_fuzz.py) sent and found, summed over the workers, printed and
    kept in test-artifacts/schema-fuzz.json."""
    import shutil

    if hasattr(terminalreporter.config, "workerinput"):
        return  # the controlling process sums every worker's figures
    figures = Path(os.environ.get("SCHEMA_FUZZ_FIGURES", "/nonexistent"))
    records = []
    for path in sorted(figures.glob("*.jsonl")):
        records += [json.loads(line) for line in path.read_text().splitlines() if line]
    shutil.rmtree(figures, ignore_errors=True)
    if not records:
        return
    statuses: dict[str, int] = {}
    for record in records:
        for status, count in record["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    summary = {
        "operations": len({record["operation"] for record in records}),
        "tests": len(records),
        "examples": sum(record["examples"] for record in records),
        "seconds": round(sum(record["seconds"] for record in records), 1),
        "errors": sum(record["failed"] for record in records),
        "statuses": dict(sorted(statuses.items(), key=lambda item: int(item[0]))),
        "tests_figures": sorted(records, key=lambda record: (record["operation"], record["caller"])),
    }
    artifacts = Path(__file__).parent / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "schema-fuzz.json").write_text(json.dumps(summary, indent=1) + "\n")
    terminalreporter.write_line(
        f"schema fuzz: {summary['operations']} operations x anonymous/superuser = {summary['tests']} tests, "
        f"{summary['examples']} examples in {summary['seconds']} s of fuzzing, {summary['errors']} with errors; "
        f"statuses {summary['statuses']}"
    )
