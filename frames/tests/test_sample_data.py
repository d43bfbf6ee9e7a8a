"""`manage.py load_sample_data`: the synthetic sample archived through the real ingest, its files, its visibility, and
re-runs that add nothing."""

import datetime
import io
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from django.core.management import call_command
from django.db.models import Count

from archive.filestore import get_filestore
from conftest import token_client
from frames import sample
from frames.models import Frame, Thumbnail, Version
from frames.tests.factories import FrameFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:.*_after_postgeneration:DeprecationWarning"),
]

SCIENCE_PER_BLOCK = len(sample.FILTERS) * sample.EXPOSURES_PER_FILTER  # 6
CALIBRATIONS_PER_BLOCK = 2 + len(sample.FILTERS)  # bias, dark and a flat per filter
CALIBRATION_TYPES = {"BIAS", "DARK", "SKYFLAT"}


def load(*args: str) -> str:
    out = io.StringIO()
    call_command("load_sample_data", *args, stdout=out)
    return out.getvalue()


def stored_bytes(version: Version) -> bytes:
    return b"".join(get_filestore().open(version.store_path, version.key))


def archive_counts() -> tuple[int, int, int]:
    return Frame.objects.count(), Version.objects.count(), Thumbnail.objects.count()


def test_default_sample_is_archived_whole():
    output = load()
    blocks = len(sample.BLOCKS)
    science = Frame.objects.filter(configuration_type="EXPOSE")
    calibrations = Frame.objects.filter(configuration_type__in=CALIBRATION_TYPES)
    assert science.count() == blocks * SCIENCE_PER_BLOCK == 36
    assert calibrations.count() == blocks * CALIBRATIONS_PER_BLOCK == 30
    assert Frame.objects.count() == 66  # no placeholders: every related name is a frame of the sample
    assert Version.objects.count() == 66
    assert Thumbnail.objects.count() == 66 * len(sample.THUMBNAIL_SIZES)
    assert "36 science frames of 3 proposals, 30 calibrations, 132 thumbnails archived" in output

    # Spread over sites, filters, nights, targets and proposals.
    assert set(science.values_list("site_id", flat=True)) == {"coj", "lsc", "ogg"}
    assert set(science.values_list("primary_optical_element", flat=True)) == set(sample.FILTERS)
    assert science.values("observation_day").distinct().count() == 3
    assert set(science.values_list("target_name", flat=True)) == {"M42", "M51", "NGC 2244"}
    assert set(science.values_list("proposal_id", flat=True)) == {*sample.PUBLIC_PROPOSALS, sample.PROPRIETARY_PROPOSAL}

    for frame in science.annotate(thumbnail_count=Count("thumbnails")):
        assert frame.area is not None, frame.basename
        sizes = set(frame.thumbnails.values_list("size", flat=True))
        assert sizes == set(sample.THUMBNAIL_SIZES), frame.basename
        related = list(frame.related_frames.all())
        assert {other.configuration_type for other in related} == CALIBRATION_TYPES, frame.basename
        # They resolve: archived frames of the same camera and night, with a file; the flat in the frame's filter.
        for other in related:
            assert other.observation_date is not None and other.version_set.exists()
            assert (other.site_id, other.instrument_id, other.observation_day) == (
                frame.site_id,
                frame.instrument_id,
                frame.observation_day,
            )
        flat = next(other for other in related if other.configuration_type == "SKYFLAT")
        assert flat.primary_optical_element == frame.primary_optical_element

    # Thumbnails are JPEGs in the store.
    thumbnail = Thumbnail.objects.filter(size="large").first()
    jpeg = b"".join(get_filestore().open(thumbnail.store_path, thumbnail.key))
    assert jpeg.startswith(b"\xff\xd8") and f"/thumbnails/{thumbnail.basename}.jpg" in thumbnail.store_path


def test_sample_files_are_real_fits_with_a_wcs_stars_and_a_catalogue():
    load("--blocks", "1")
    assert Frame.objects.filter(configuration_type="EXPOSE").count() == SCIENCE_PER_BLOCK
    version = Version.objects.filter(frame__configuration_type="EXPOSE").order_by("frame__basename").first()
    assert version.extension == ".fits.fz"
    with fits.open(io.BytesIO(stored_bytes(version))) as hdus:
        assert isinstance(hdus["SCI"], fits.CompImageHDU)
        header, data = hdus["SCI"].header, hdus["SCI"].data
        catalogue = hdus["CAT"].data
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wcs = WCS(header)
        assert wcs.has_celestial
        assert wcs.wcs.ctype[0] == "RA---TAN"
        centre = wcs.pixel_to_world(header["NAXIS1"] / 2, header["NAXIS2"] / 2)
        assert abs(centre.ra.deg - sample.TARGETS["M42"].ra) < 0.01
        assert abs(centre.dec.deg - sample.TARGETS["M42"].dec) < 0.01
        median, noise = float(np.median(data)), float(np.std(data[:40, :40]))
        assert data.max() > median + 50 * noise  # stars far above the noise
        assert 5 <= len(catalogue) <= 200  # stars, not every noise peak of the nebula
        assert {"x", "y", "ra", "dec", "flux", "fluxerr", "mag", "magerr"} <= {n.lower() for n in catalogue.names}
    assert header["L1IDBIAS"].endswith("-bias-bin1x1.fits.fz")  # the file names its calibrations


def test_a_second_run_adds_nothing_and_fills_in_a_missing_thumbnail():
    load("--blocks", "1")
    before = archive_counts()
    assert before == (11, 11, 22)
    again = load("--blocks", "1")
    assert archive_counts() == before
    assert "0 science frames of 0 proposals, 0 calibrations, 0 thumbnails archived; 11 files were archived" in again
    Thumbnail.objects.filter(size="small").first().delete()
    assert "1 thumbnails archived" in load("--blocks", "1")
    assert archive_counts() == before


def test_sample_files_are_the_same_every_time():
    """Same bytes, same md5: what makes a re-run find every file archived (compression dithers without the clock)."""
    until = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    block = sample.BLOCKS[1]  # the proprietary one: its public date is no part of the file

    def made() -> list[sample.SampleFile]:
        return [next(sample.calibration_files(block, 1)), next(sample.science_files(block, 1, proprietary_until=until))]

    first, second = made(), made()
    assert [file.data for file in first] == [file.data for file in second]
    assert first[1].metadata == {"L1PUBDAT": "2030-01-01T00:00:00"}


def test_proprietary_proposal_is_hidden_from_the_public_and_shown_to_its_members(api_client, make_user):
    load("--blocks", "2")  # a public block and the proprietary one
    proprietary = Frame.objects.filter(proposal_id=sample.PROPRIETARY_PROPOSAL)
    assert proprietary.count() == SCIENCE_PER_BLOCK
    for frame in proprietary:
        assert frame.public_date.year > frame.observation_date.year  # a year after the load

    def proposals(client) -> dict[str, int]:
        response = client.get("/frames/", {"limit": 1000})
        assert response.status_code == 200, response.content
        counts: dict[str, int] = {}
        for item in response.json()["results"]:
            counts[item["proposal_id"]] = counts.get(item["proposal_id"], 0) + 1
        return counts

    anonymous = proposals(api_client)
    assert sample.PROPRIETARY_PROPOSAL not in anonymous
    assert anonymous["LCOEPO2026A-004"] == SCIENCE_PER_BLOCK
    assert anonymous[sample.CALIBRATION_PROPOSAL] == 2 * CALIBRATIONS_PER_BLOCK
    member = proposals(token_client(make_user("member", proposals=[sample.PROPRIETARY_PROPOSAL])))
    assert member[sample.PROPRIETARY_PROPOSAL] == SCIENCE_PER_BLOCK
    stranger = proposals(token_client(make_user("stranger", proposals=["LCO2026A-999"])))
    assert sample.PROPRIETARY_PROPOSAL not in stranger
    hidden = proprietary.first()
    assert api_client.get(f"/frames/{hidden.id}/").status_code == 404


def test_if_empty_does_nothing_on_an_archive_with_frames():
    FrameFactory()
    before = archive_counts()
    output = load("--if-empty")
    assert archive_counts() == before
    assert "no sample loaded" in output


def test_if_empty_loads_an_empty_archive():
    load("--if-empty", "--blocks", "1")
    assert Frame.objects.count() == SCIENCE_PER_BLOCK + CALIBRATIONS_PER_BLOCK
