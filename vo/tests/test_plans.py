"""The VO queries use the frames' indexes (sequential scans disabled, on an analysed archive where each index is
the selective one, as /frames/'s plan tests do): GiST for cones, polygons and ranges, the date index for TIME."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from frames.tests.test_queries import gist_index_name, planned_archive  # noqa: F401  (a fixture)
from vo import obscore

pytestmark = pytest.mark.django_db


def plan_of(client, params: dict, **headers) -> str:
    with CaptureQueriesContext(connection) as context:
        response = client.get("/vo/sia2/query", params, **headers)
        assert response.status_code == 200
        b"".join(response.streaming_content)
    [statement] = [q["sql"] for q in context.captured_queries if "LATERAL" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("EXPLAIN " + statement)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    ("params", "index"),
    [
        ({"POS": "CIRCLE 202.47 47.19 0.5"}, "gist"),
        ({"POS": "POLYGON 202 47 203 47 203 48 202 48"}, "gist"),
        ({"POS": "RANGE 202 203 47 48"}, "gist"),
        ({"TIME": f"{obscore.mjd(obscore.from_mjd(57072.5))} 57073"}, "frame_obsdate_idx"),
    ],
)
def test_index_plans(client, planned_archive, params, index):  # noqa: F811
    index = gist_index_name() if index == "gist" else index
    plan = plan_of(client, params)
    assert f" {index} " in plan, plan
    assert "Seq Scan on frames_frame" not in plan, plan
