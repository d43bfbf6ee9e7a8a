"""The search page at `/`: what a browser gets (the API root stays for API clients), the form's errors beside their
fields, results built on the API's selectors (visibility included), the sky map and the date histogram."""

import datetime
import re

import pytest
from django.utils import timezone

from frames.skymap import sky_map
from frames.tests.factories import FrameFactory, box

pytestmark = pytest.mark.django_db

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def page(client, **params):
    return client.get("/", params, HTTP_ACCEPT=BROWSER)


def basenames(response) -> list[str]:
    return re.findall(r'<tr data-basename="([^"]+)"', response.content.decode())


def test_a_browser_gets_the_search_page_and_api_clients_the_api_root(api_client):
    response = page(api_client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert 'id="search-form"' in response.content.decode()
    root = api_client.get("/")
    assert root["Content-Type"] == "application/json"
    assert set(root.json()) == {"frames", "versions", "thumbnails"}
    assert api_client.get("/", {"format": "api"}, HTTP_ACCEPT=BROWSER)["Content-Type"].startswith("text/html")
    assert "search-form" not in api_client.get("/", {"format": "api"}, HTTP_ACCEPT=BROWSER).content.decode()


def test_searching_by_target_and_by_position(api_client):
    FrameFactory(basename="m51-frame", target_name="M51", area=box(202.47, 47.19))
    FrameFactory(basename="m42-frame", target_name="M42", area=box(83.82, -5.39))
    assert basenames(page(api_client, target_name="m51")) == ["m51-frame"]
    assert basenames(page(api_client, ra=83.8, dec=-5.4, radius=0.5)) == ["m42-frame"]
    assert sorted(basenames(page(api_client))) == ["m42-frame", "m51-frame"]


def test_field_errors_are_shown_beside_their_fields(api_client):
    response = page(api_client, start="not a date", ra=400, dec=10, radius=50)
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="start-errors"' in body and 'id="ra-errors"' in body and 'id="radius-errors"' in body
    assert "at most 10 degrees" in body
    alone = page(api_client, ra=10).content.decode()
    assert 'id="dec-errors"' in alone and "given together" in alone


def test_an_empty_result_says_so(api_client):
    FrameFactory(target_name="M51")
    body = page(api_client, target_name="nothing-like-this").content.decode()
    assert 'id="no-results"' in body and "No frames match" in body


def test_proprietary_frames_only_for_members(api_client, make_user):
    later = timezone.now() + datetime.timedelta(days=300)
    FrameFactory(basename="secret", proposal_id="LCO2024A-007", public_date=later)
    FrameFactory(basename="open", proposal_id="LCO2024A-001")
    assert basenames(page(api_client)) == ["open"]
    api_client.force_login(make_user("outsider", proposals=["LCO2024A-001"]))
    assert basenames(page(api_client)) == ["open"]
    api_client.force_login(make_user("insider", proposals=["LCO2024A-007"]))
    body = page(api_client).content.decode()
    assert sorted(basenames_text(body)) == ["open", "secret"]
    assert 'class="badge">proprietary' in body and 'id="logged-in-as">insider' in body


def test_the_sky_map_has_one_outline_per_result_linked_by_basename(api_client):
    for n in range(3):
        FrameFactory(basename=f"frame-{n}", area=box(150 + n, 2))
    FrameFactory(basename="no-footprint", area=None)
    body = page(api_client).content.decode()
    outlines = re.findall(r'<polygon points="[^"]+" data-basename="([^"]+)"', body)
    assert sorted(outlines) == ["frame-0", "frame-1", "frame-2"]


def test_the_histogram_counts_every_match(api_client):
    start = datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC)
    for n in range(5):
        FrameFactory(observation_date=start + datetime.timedelta(days=n // 2))
    body = page(api_client).content.decode()
    counts = [int(value) for value in re.findall(r'data-count="(\d+)"', body)]
    assert counts == [2, 2, 1]


def test_pages_carry_the_query(api_client, settings):
    for n in range(55):
        FrameFactory(basename=f"p-{n:02d}", target_name="M51")
    first = page(api_client, target_name="M51").content.decode()
    assert len(basenames_text(first)) == 50
    link = re.search(r'id="next-page" href="\?([^"]+)"', first)[1].replace("&amp;", "&")
    assert "target_name=M51" in link and "page=2" in link
    second = api_client.get("/?" + link, HTTP_ACCEPT=BROWSER)
    assert len(basenames(second)) == 5


def basenames_text(body: str) -> list[str]:
    return re.findall(r'<tr data-basename="([^"]+)"', body)


def test_a_local_map_is_drawn_near_the_footprints_and_an_all_sky_map_for_spread_ones():
    near = sky_map([("a", [[10, 10], [10.2, 10], [10.2, 10.2], [10, 10.2], [10, 10]])])
    assert near.kind == "local" and len(near.outlines) == 1
    xs = [float(point.split(",")[0]) for point in near.outlines[0].points.split()]
    assert max(xs) - min(xs) > 100  # a 0.2-degree frame fills the map
    across = sky_map([("a", [[179.9, 0], [-179.9, 0], [-179.9, 0.1], [179.9, 0.1], [179.9, 0]])])
    assert across.kind == "local"  # one frame on both sides of RA 180 is still one small piece of sky
    rings = [[[lon, 0], [lon + 1, 0], [lon + 1, 1], [lon, 1], [lon, 0]] for lon in (-170, -60, 60, 170)]
    spread = sky_map([(f"f{n}", ring) for n, ring in enumerate(rings)])
    assert spread.kind == "all-sky" and len(spread.outlines) == 4
    assert sky_map([("none", [])]) is None
