"""Every operation of the archive's own OpenAPI schema, fuzzed by schemathesis as an anonymous caller and as a
superuser: no answer is a 5xx, and every answer with a documented status matches the schema's body for it.

The schema is loaded from the application itself (`/openapi/` through WSGI, in process), and each case is sent to the
same application: the requests run inside the test's database transaction, so the superuser's writes (ingests,
deletions, downtimes, data sessions) are rolled back with it and the workers of pytest-xdist never meet. A few frames
with versions, headers and thumbnails (one with its FITS file stored), a downtime and a data session are in the
database; some cases draw path parameters from their ids and a few writes get a valid body, so details, deletions,
updates and 201s are checked too, not only 404s and 400s. Each request runs in a savepoint (a failed statement does not
poison the next example) and the cache is cleared after it. The file store is a moto S3 bucket and configdb a fake on
loopback that knows the downtime's telescope; the broker is the default in-process one (the outbox row is the ingest's
guarantee, its publication is tested in frames/tests/test_notifications.py), and the observation portal is not
configured (an unreachable portal is a 503, proved in frames/tests/test_upload.py and the authentication tests).

Bounds: EXAMPLES (25) cases per operation and caller (positive and negative data, a fixed seed per test so that a run is
reproducible; SCHEMA_FUZZ_EXAMPLES and SCHEMA_FUZZ_RANDOM=1 widen it by hand). Each test records its figures in
a directory of the run's, and the run's summary (operations, examples, seconds, errors) is printed at the end of
pytest's output and kept in test-artifacts/schema-fuzz.json (conftest.py,
`pytest_terminal_summary`).
"""

import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest
from django.core import signals
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.openapi import from_wsgi
from schemathesis.specs.openapi.checks import response_schema_conformance

from datalab.analysis_service import ACTIONS, GET_TIF
from datalab.services import session_create
from downtimes.tests.factories import DowntimeFactory
from frames.tests.factories import FrameFactory, HeadersFactory, ThumbnailFactory, ingest_body
from frames.tests.storedfiles import frame_with_file

EXAMPLES = int(os.environ.get("SCHEMA_FUZZ_EXAMPLES", "25"))
RANDOM = os.environ.get("SCHEMA_FUZZ_RANDOM") == "1"
CALLERS = ["anonymous", "superuser"]
CHECKS = [not_a_server_error, response_schema_conformance]

# The project's WSGI handler (archive/wsgi.py builds the same one, and also bounds the web statements: not wanted for
# the rest of a test worker's life).
APPLICATION = get_wsgi_application()
SCHEMA = from_wsgi("/openapi/", APPLICATION)
OPERATIONS = {operation.label: operation for operation in (result.ok() for result in SCHEMA.get_all_operations())}


@pytest.fixture
def wsgi_requests():
    """Requests sent straight to the WSGI handler keep the test's connection, as Django's test client does: the
    handler would otherwise close it at the end of each request, inside the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def archive_data(db, superuser, s3_bucket, configdb, tmp_path):
    """Rows for the fuzzer to find: the ids path parameters are drawn from. One frame's file (with a catalog) really
    is in the store, so downloads, funpack and catalog answer with bytes too."""
    from conftest import configdb_site

    configdb.sites = [configdb_site("tst", {"doma": {"1m0a": ["1M0-SCICAM-SINISTRO"]}})]
    stored, _ = frame_with_file(tmp_path, with_catalog=True)
    frames = [FrameFactory(), FrameFactory(public_date="2099-01-01T00:00:00Z"), stored]
    thumbnails = []
    for frame in frames:
        HeadersFactory(frame=frame)
        thumbnails.append(ThumbnailFactory(frame=frame))
    downtime = DowntimeFactory()
    session = session_create(user=superuser, name="fuzzed", input_data=[])
    return {
        "frame": [frame.id for frame in frames],
        "version": [version.id for frame in frames for version in frame.version_set.all()],
        "thumbnail": [thumbnail.id for thumbnail in thumbnails],
        "downtime": [downtime.id],
        "session": [session.id],
        "action": [GET_TIF, *ACTIONS],
    }


def known_path_parameters(path: str, ids: dict[str, list]) -> dict[str, st.SearchStrategy]:
    """For each path parameter of the path, the ids of the rows it names."""
    by_resource = {
        "/frames/": "frame",
        "/frame-funpack/": "version",
        "/frame-catalog/": "version",
        "/versions/": "version",
        "/thumbnails/": "thumbnail",
        "/downtimes/": "downtime",
        "/api/datasessions/": "session",
    }
    known: dict[str, st.SearchStrategy] = {}
    for prefix, resource in by_resource.items():
        if path.startswith(prefix) and "{id}" in path and "{session_pk}" not in path:
            known["id"] = st.sampled_from(ids[resource])
    if "{session_pk}" in path:
        known["session_pk"] = st.sampled_from(ids["session"])
    if "{action_name}" in path:
        known["action_name"] = st.sampled_from(ids["action"])
    return known


DOWNTIME = {
    "start": "2031-01-01T00:00:00Z",
    "end": "2031-01-02T00:00:00Z",
    "site": "tst",
    "enclosure": "doma",
    "telescope": "1m0a",
    "instrument_type": "",
    "reason": "Fuzzed",
}
# Bodies the operations accept, for writes whose rules are stricter than their schema (a basename's shape, a
# telescope configdb knows): without them the generated bodies would be 400s and the 201 answers never checked.
VALID_BODIES = {
    "POST /frames/": lambda: ingest_body(),
    "POST /downtimes/api/": lambda: DOWNTIME,
    "PUT /downtimes/api/{id}/": lambda: DOWNTIME,
    "POST /api/datasessions/": lambda: {"name": "fuzzed", "input_data": []},
}


def case_strategy(operation, ids: dict[str, list]) -> st.SearchStrategy:
    """Positive and negative cases as schemathesis generates them, and positive ones that name existing rows (and
    carry a valid body where there is one, with no query parameters to get in its way)."""
    strategies = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
    known = known_path_parameters(operation.path, ids)
    if known:
        strategies.append(
            st.fixed_dictionaries(known).flatmap(
                lambda values: operation.as_strategy(GenerationMode.POSITIVE, path_parameters=values)
            )
        )
    if operation.label in VALID_BODIES:
        body = VALID_BODIES[operation.label]()
        strategies.append(
            st.fixed_dictionaries(known).flatmap(
                lambda values: operation.as_strategy(
                    GenerationMode.POSITIVE,
                    path_parameters=values,
                    body=body,
                    media_type="application/json",
                    query={},
                )
            )
        )
    return st.one_of(strategies)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_server_error_and_no_answer_outside_the_schema(label, caller, archive_data, superuser, wsgi_requests):
    operation = OPERATIONS[label]
    headers = {"Authorization": f"Token {Token.objects.get(user=superuser).key}"} if caller == "superuser" else {}
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=EXAMPLES,
        derandomize=not RANDOM,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(case=case_strategy(operation, archive_data))
    def fuzz(case):
        # The caller is the test's: drop any credential the generator made up (a random token is a third caller).
        if case.headers:
            case.headers.pop("Authorization", None)
        if case.cookies:
            case.cookies.pop("sessionid", None)
        # Each request in a savepoint of its own, as each is in a transaction of its own in production: a statement
        # that fails does not poison the next example's.
        with transaction.atomic():
            response = case.call(headers=headers)
        cache.clear()  # what a rolled-back example cached (a revoked token, a counter) goes with it
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    started = time.monotonic()
    failed = True
    try:
        fuzz()
        failed = False
    finally:
        record = {
            "operation": label,
            "caller": caller,
            "examples": sum(statuses.values()),
            "statuses": {str(status): count for status, count in sorted(statuses.items())},
            "seconds": round(time.monotonic() - started, 3),
            "failed": failed,
        }
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        with (Path(os.environ["SCHEMA_FUZZ_FIGURES"]) / f"{worker}.jsonl").open("a") as figures:
            figures.write(json.dumps(record) + "\n")
