"""Exports of a whole search as CSV and ECSV: every matching row the caller may see, not one page."""

import csv
import datetime
import io

import pytest
from astropy.table import Table
from django.utils import timezone

from conftest import token_client
from frames.tests.factories import FrameFactory

pytestmark = pytest.mark.django_db


def body(response) -> str:
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content).decode()


def test_csv_holds_every_matching_visible_row_past_one_page(api_client, make_user, settings):
    settings.PAGINATION_DEFAULT_LIMIT = 5
    for n in range(12):
        FrameFactory(basename=f"public-{n:02d}", site_id="coj")
    FrameFactory(basename="elsewhere", site_id="ogg")
    later = timezone.now() + datetime.timedelta(days=300)
    FrameFactory(basename="secret", site_id="coj", proposal_id="LCO2024A-007", public_date=later)
    response = api_client.get("/frames/", {"site_id": "coj", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert len(rows) == 12 and {row["site_id"] for row in rows} == {"coj"}
    assert "secret" not in {row["basename"] for row in rows}
    assert rows[0]["observation_date"].endswith("Z") and rows[0]["filename"].endswith(".fits.fz")
    assert [row["observation_date"] for row in rows] == sorted((row["observation_date"] for row in rows), reverse=True)
    member = token_client(make_user("member", proposals=["LCO2024A-007"]))
    member_rows = list(csv.DictReader(io.StringIO(body(member.get("/frames/", {"site_id": "coj", "format": "csv"})))))
    assert len(member_rows) == 13


def test_ecsv_reads_back_with_its_types(api_client):
    FrameFactory(basename="typed", exposure_time=12.5, observation_id=None)
    table = Table.read(body(api_client.get("/frames/", {"format": "ecsv"})), format="ascii.ecsv")
    assert list(table["basename"]) == ["typed"]
    assert table["exposure_time"].dtype.kind == "f" and table["id"].dtype.kind == "i"
    assert float(table["exposure_time"][0]) == 12.5


def test_bad_filters_are_refused_before_any_row(api_client):
    response = api_client.get("/frames/", {"format": "csv", "start": "not a date"})
    assert response.status_code == 400


def test_votable_parses_strictly_with_astropy(api_client, tmp_path):
    from astropy.io.votable import parse

    FrameFactory(basename="tabled", exposure_time=30.0, observation_id=None, target_name="M51 & <co> XYZ")
    FrameFactory(basename="second")
    response = api_client.get("/frames/", {"format": "votable"})
    assert response["Content-Type"].startswith("application/x-votable+xml")
    path = tmp_path / "frames.vot"
    path.write_text(body(response))
    table = parse(str(path), verify="exception").get_first_table().to_table()
    assert sorted(table["basename"]) == ["second", "tabled"]
    row = table[list(table["basename"]).index("tabled")]
    assert row["target_name"] == "M51 & <co> XYZ" and float(row["exposure_time"]) == 30.0
    assert str(row["observation_date"]).startswith("2024-05-01T")
