"""The local reference catalogue: `load_catalog` from CSV and FITS extracts, cone searches that return exactly the
stars within the radius (across RA 0 and next to a pole), and a query plan through the GiST index."""

import io

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import MaskedColumn, Table
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from datalab.catalog import catalog_provider
from datalab.models import CatalogStar
from datalab.selectors import catalog_cone
from frames.filters import cone_condition

pytestmark = pytest.mark.django_db

COLUMNS = ("phot_g_mean_mag", "phot_bp_mean_mag", "phot_rp_mean_mag", "bp_rp", "parallax", "parallax_error")


def extract(ra, dec, *, first_id=1000, seed=0) -> Table:
    """A Gaia-like extract at the given positions: magnitudes, colours and parallaxes, the BP of every fifth star and
    the parallax of every seventh missing, as Gaia leaves them."""
    rng = np.random.default_rng(seed)
    count = len(ra)
    table = Table()
    table["source_id"] = np.arange(first_id, first_id + count, dtype=np.int64) * 1_000_003
    table["ra"] = np.asarray(ra, float)
    table["dec"] = np.asarray(dec, float)
    g = rng.uniform(8, 20, count)
    bp, rp = g + rng.uniform(0, 1, count), g - rng.uniform(0, 1, count)
    bp_missing = np.arange(count) % 5 == 0
    plx_missing = np.arange(count) % 7 == 0
    table["phot_g_mean_mag"] = g
    table["phot_bp_mean_mag"] = MaskedColumn(bp, mask=bp_missing)
    table["phot_rp_mean_mag"] = rp
    table["bp_rp"] = MaskedColumn(bp - rp, mask=bp_missing)
    table["parallax"] = MaskedColumn(rng.uniform(0.1, 5, count), mask=plx_missing)
    table["parallax_error"] = MaskedColumn(rng.uniform(0.01, 0.3, count), mask=plx_missing)
    return table


def load(path) -> str:
    out = io.StringIO()
    call_command("load_catalog", str(path), "--batch-size", "7", stdout=out)
    return out.getvalue()


def as_rows(table: Table) -> dict[int, dict]:
    rows = {}
    for row in table:
        values = {name: (None if np.ma.is_masked(row[name]) else float(row[name])) for name in COLUMNS}
        rows[int(row["source_id"])] = {"ra": float(row["ra"]), "dec": float(row["dec"]), **values}
    return rows


@pytest.mark.parametrize("kind", ["csv", "fits"])
def test_load_catalog_reads_csv_and_fits(tmp_path, kind):
    rng = np.random.default_rng(1)
    table = extract(rng.uniform(0, 360, 40), rng.uniform(-90, 90, 40))
    path = tmp_path / f"gaia.{kind}"
    table.write(path, format="ascii.csv" if kind == "csv" else "fits")

    assert load(path).strip() == f"Loaded 40 catalogue row(s) from gaia.{kind}."
    stored = {star.source_id: star for star in CatalogStar.objects.all()}
    expected = as_rows(table)
    assert set(stored) == set(expected)
    for source_id, values in expected.items():
        star = stored[source_id]
        for name, value in values.items():
            if value is None:
                assert getattr(star, name) is None, (source_id, name)
            else:
                assert getattr(star, name) == pytest.approx(value, rel=1e-12), (source_id, name)
        assert star.position.y == pytest.approx(star.dec)
        assert star.position.x == pytest.approx(star.ra - 360 if star.ra > 180 else star.ra)

    # Loading again updates in place rather than duplicating.
    load(path)
    assert CatalogStar.objects.count() == 40


def test_load_catalog_computes_missing_colour_and_refuses_bad_extracts(tmp_path):
    path = tmp_path / "small.csv"
    path.write_text("SOURCE_ID,RA,DEC,phot_bp_mean_mag,phot_rp_mean_mag\n7,10.5,-20.25,12.5,11.25\n8,11,-21,,11\n")
    assert "Loaded 2 catalogue row(s)" in load(path)
    first, second = CatalogStar.objects.order_by("source_id")
    assert (first.bp_rp, first.parallax, second.bp_rp, second.phot_bp_mean_mag) == (1.25, None, None, None)

    no_dec = tmp_path / "no_dec.csv"
    no_dec.write_text("source_id,ra\n1,2\n")
    with pytest.raises(CommandError, match="no dec column"):
        load(no_dec)
    off_sky = tmp_path / "off_sky.csv"
    off_sky.write_text("source_id,ra,dec\n1,2,95\n")
    with pytest.raises(CommandError, match="outside the sky"):
        load(off_sky)
    with pytest.raises(CommandError, match="is not a file"):
        load(tmp_path / "missing.csv")


def expected_within(table: Table, ra: float, dec: float, radius: float, margin: float = 1e-6) -> set[int]:
    """Source ids within `radius` by astropy's separation; stars within `margin` of the edge are not allowed in the
    test data, so that rounding cannot decide."""
    separation = SkyCoord(table["ra"] * u.deg, table["dec"] * u.deg).separation(SkyCoord(ra * u.deg, dec * u.deg)).deg
    assert not np.any(np.abs(separation - radius) < margin), "a test star sits on the edge of the cone"
    return {int(source_id) for source_id in table["source_id"][separation < radius]}


@pytest.mark.parametrize(
    ("ra", "dec", "radius"),
    [
        (0.05, 10.0, 0.2),  # straddles RA 0: stars at RA 359.9 belong
        (359.95, -5.0, 0.3),
        (180.0, 0.0, 0.25),  # the longitude seam of the stored geography
        (123.0, 89.9, 0.3),  # the pole lies inside: every RA belongs
        (300.0, -89.8, 0.5),
        (45.0, 45.0, 1.5),
    ],
)
def test_cone_returns_exactly_the_stars_within_the_radius(ra, dec, radius, tmp_path):
    rng = np.random.default_rng(int(ra * 10 + dec * 100 + 10000))
    # Stars scattered over a disc twice the cone's radius, on the sphere.
    centre = SkyCoord(ra * u.deg, dec * u.deg)
    around = centre.directional_offset_by(
        rng.uniform(0, 360, 400) * u.deg, np.sqrt(rng.uniform(0, 1, 400)) * 2 * radius * u.deg
    )
    table = extract(around.ra.deg, around.dec.deg)
    path = tmp_path / "field.fits"
    table.write(path, format="fits")
    load(path)

    expected = expected_within(table, ra, dec, radius)
    assert 20 < len(expected) < 400
    rows = catalog_provider().cone(ra, dec, radius)
    assert {row["source_id"] for row in rows} == expected
    assert [row["source_id"] for row in rows] == sorted(expected)
    assert set(rows[0]) == {"source_id", "ra", "dec", *COLUMNS}
    # The same sky with RA given in [-180, 180] form.
    if ra > 180:
        assert {row["source_id"] for row in catalog_cone(ra=ra - 360, dec=dec, radius_deg=radius)} == expected


def test_provider_is_available_only_with_stars(tmp_path):
    assert catalog_provider().available() is False
    assert catalog_provider().cone(10, 10, 1) == []
    path = tmp_path / "one.csv"
    path.write_text("source_id,ra,dec\n1,10,10\n")
    load(path)
    assert catalog_provider().available() is True


def test_cone_uses_the_gist_index(tmp_path):
    rng = np.random.default_rng(3)
    count = 20000
    sky = SkyCoord(rng.uniform(0, 360, count) * u.deg, np.degrees(np.arcsin(rng.uniform(-1, 1, count))) * u.deg)
    path = tmp_path / "sky.fits"
    extract(sky.ra.deg, sky.dec.deg).write(path, format="fits")
    call_command("load_catalog", str(path), stdout=io.StringIO())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE datalab_catalogstar")
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'datalab_catalogstar' AND indexdef LIKE "
            "'%USING gist%'"
        )
        gist = cursor.fetchall()
    assert len(gist) == 1 and '("position")' in gist[0][1]
    plan = CatalogStar.objects.filter(cone_condition(10.0, 20.0, 0.5, field="position")).explain()
    assert gist[0][0] in plan, plan
    assert "Seq Scan" not in plan, plan
