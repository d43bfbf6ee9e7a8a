"""HR Diagram over the local reference catalogue: offered and accepted only when a catalogue is loaded, colours from
the frames' calibrated catalogues matched to the catalogue's stars in the search radius, absolute magnitudes from
good parallaxes."""

import math

import pytest

from datalab import services
from datalab.operations.base import InputError, OperationError
from datalab.operations.hr_diagram import NO_CATALOG, HRDiagram
from datalab.tests.catalog_frames import TARGET_DEC, TARGET_RA, Star, offset, write_frame
from datalab.tests.opcontext import LocalFile, run_operation

pytestmark = pytest.mark.django_db

CLUSTER = {"ra": TARGET_RA, "dec": TARGET_DEC, "name": "Test Cluster"}
# (east, north) arcsec, blue mag, red mag, parallax, parallax error, Gaia G
MEMBERS = [
    ((0, 0), 14.0, 13.2, 2.0, 0.05, 13.5),
    ((12, 5), 15.1, 14.6, 2.1, 0.1, 14.8),
    ((-9, -14), 16.3, 15.2, 1.9, 0.9, 15.7),  # parallax over error 2.1: no absolute magnitude
    ((3, 16), 13.4, 13.0, None, None, 13.2),
]


def gaia_row(number, east, north, parallax, error, g):
    ra, dec = offset(east_arcsec=east, north_arcsec=north)
    return {
        "source_id": 1000 + number,
        "ra": ra,
        "dec": dec,
        "phot_g_mean_mag": g,
        "phot_bp_mean_mag": g + 0.4,
        "phot_rp_mean_mag": g - 0.4,
        "bp_rp": 0.8,
        "parallax": parallax,
        "parallax_error": error,
    }


@pytest.fixture
def catalogue():
    rows = [gaia_row(number, *member[0], *member[3:]) for number, member in enumerate(MEMBERS)]
    rows.append(gaia_row(50, 200, 0, 1.0, 0.01, 12.0))  # in the search radius, outside the frames
    rows.append(gaia_row(60, 3600, 0, 1.0, 0.01, 12.0))  # a degree away
    services.catalog_stars_load(rows=rows)
    return rows


def frames(tmp_path):
    blue = [Star(*offset(east_arcsec=e, north_arcsec=n), mag=b) for (e, n), b, *_ in MEMBERS]
    red = [Star(*offset(east_arcsec=e, north_arcsec=n), mag=r) for (e, n), _, r, *_ in MEMBERS]
    return {
        "blue_filter_files": [LocalFile(write_frame(tmp_path / "blue.fits", blue, band="gp"), filter="gp")],
        "red_filter_files": [LocalFile(write_frame(tmp_path / "red.fits", red, band="rp"), filter="rp")],
    }


def test_offered_and_accepted_only_with_a_catalogue(observer_client, tmp_path):
    assert HRDiagram.unavailable_reason() == NO_CATALOG
    assert "HR Diagram" not in observer_client.get("/api/available_operations/").json()
    session = observer_client.post("/api/datasessions/", {"name": "s", "input_data": []}, format="json").json()
    response = observer_client.post(
        f"/api/datasessions/{session['id']}/operations/",
        {"name": "HR Diagram", "input_data": {"cluster": CLUSTER}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"] == NO_CATALOG

    services.catalog_stars_load(rows=[gaia_row(1, 0, 0, 1.0, 0.1, 12.0)])
    listed = observer_client.get("/api/available_operations/").json()
    assert list(listed)[-1] == "HR Diagram"
    assert list(listed["HR Diagram"]["inputs"]) == [
        "blue_filter_files",
        "red_filter_files",
        "cluster",
        "search_radius_arcmin",
    ]


def test_colours_and_absolute_magnitudes(catalogue, tmp_path):
    ctx = run_operation(HRDiagram, tmp_path, frames(tmp_path), cluster=dict(CLUSTER), search_radius_arcmin=5.0)
    data = ctx.data[0]
    assert data["catalog_stars"] == 5
    assert (data["blue_filter"], data["red_filter"]) == ("gp", "rp")
    stars = {star["source_id"]: star for star in data["stars"]}
    assert sorted(stars) == [1000, 1001, 1002, 1003]
    for number, ((_e, _n), blue, red, _parallax, _error, g) in enumerate(MEMBERS):
        star = stars[1000 + number]
        assert star["blue_mag"] == pytest.approx(blue)
        assert star["red_mag"] == pytest.approx(red)
        assert star["color"] == pytest.approx(blue - red)
        assert star["gaia_g"] == g and star["gaia_bp_rp"] == 0.8
    assert stars[1000]["absolute_g"] == pytest.approx(13.5 + 5 * math.log10(2.0) - 10)
    assert stars[1001]["absolute_g"] == pytest.approx(14.8 + 5 * math.log10(2.1) - 10)
    assert stars[1002]["absolute_g"] is None and stars[1003]["absolute_g"] is None
    assert data["median_parallax"] == pytest.approx(2.05)
    assert data["distance_pc"] == pytest.approx(1000 / 2.05)


def test_failures_say_what_to_change(catalogue, tmp_path):
    far = {"ra": TARGET_RA + 10, "dec": TARGET_DEC}
    with pytest.raises(OperationError, match="no star within 1 arcmin of the cluster"):
        run_operation(HRDiagram, tmp_path, frames(tmp_path), cluster=far, search_radius_arcmin=1.0)
    items = {
        "blue_filter_files": [{"basename": "a", "filter": "rp"}],
        "red_filter_files": [{"basename": "b", "filter": "rp"}],
    }
    with pytest.raises(InputError, match="two different filters"):
        HRDiagram.validate({}, items)
    items["blue_filter_files"].append({"basename": "c", "filter": "gp"})
    with pytest.raises(InputError, match="one filter for 'blue_filter_files'"):
        HRDiagram.validate({}, items)
