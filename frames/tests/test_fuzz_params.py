"""Awkward query values on every list parameter of the frames API: each answer is a JSON 4xx or a 200, never a 500."""

import pytest
from django.test import Client

from conftest import token_client
from frames.filters import FrameFilterSet as FrameFilter
from frames.tests.factories import FrameFactory

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/frames/", "/frames/aggregate/", "/versions/", "/thumbnails/"]
EXTRA_PARAMETERS = [
    "offset",
    "limit",
    "ordering",
    "public",
    "include_related_frames",
    "include_thumbnails",
    "pagination_style",
    "cursor",
    "force_count",
]
VALUES = [
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "0001-01-01",
    "9999-12-31T23:59:59.999999Z",
    "99999999999999999999",
    "-99999999999999999999",
    "1e400",
    "nan",
    "-inf",
    "a\x00b",
    "POINT EMPTY",
    "POLYGON EMPTY",
    "POINT(nan nan)",
    "POINT(1e400 0)",
    '{"type": "Point", "coordinates": []}',
    "x" * 5000,
]


def parameters() -> list[str]:
    return sorted(set(FrameFilter.base_filters) | set(EXTRA_PARAMETERS))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_no_awkward_value_is_a_server_error(endpoint):
    FrameFactory()
    client = Client(raise_request_exception=False)
    failures = []
    for name in parameters():
        for value in VALUES:
            response = client.get(endpoint, {name: value})
            if response.status_code >= 500 or (
                response.status_code >= 400 and response["Content-Type"] != "application/json"
            ):
                failures.append((endpoint, name, value[:30], response.status_code, response.content[:80]))
    assert failures == []


@pytest.mark.parametrize(
    ("name", "wkt", "geojson"),
    [
        ("covers", "POINT(202.47 47.19)", {"type": "Point", "coordinates": [202.47, 47.19]}),
        (
            "intersects",
            "POLYGON((202.3 47.1, 202.6 47.1, 202.6 47.3, 202.3 47.3, 202.3 47.1))",
            {
                "type": "Polygon",
                "coordinates": [[[202.3, 47.1], [202.6, 47.1], [202.6, 47.3], [202.3, 47.3], [202.3, 47.1]]],
            },
        ),
    ],
)
def test_geojson_finds_what_the_same_wkt_finds(name, wkt, geojson):
    import json

    inside = FrameFactory()
    FrameFactory(area=None)
    client = Client()
    by_wkt = client.get("/frames/", {name: wkt}).json()
    by_geojson = client.get("/frames/", {name: json.dumps(geojson)}).json()
    assert [frame["id"] for frame in by_wkt["results"]] == [inside.id]
    assert by_geojson["results"] == by_wkt["results"]


@pytest.mark.parametrize("value", ["POINT EMPTY", "POLYGON EMPTY", "POINT(nan nan)", '{"type": "Point"}'])
@pytest.mark.parametrize("name", ["covers", "intersects"])
def test_empty_and_non_finite_geometries_are_refused(name, value):
    response = Client().get("/frames/", {name: value})
    assert response.status_code == 400
    assert f"Error with {name} query" in str(response.json())


@pytest.mark.parametrize("endpoint", ["/frames/", "/versions/", "/thumbnails/"])
def test_deep_offsets_point_to_cursors(endpoint, settings, superuser):
    client = token_client(superuser)
    response = client.get(endpoint, {"offset": settings.PAGINATION_MAX_OFFSET + 1})
    assert response.status_code == 400
    assert "pagination_style=cursor" in response.json()["offset"][0]
    assert client.get(endpoint, {"offset": settings.PAGINATION_MAX_OFFSET}).status_code == 200
