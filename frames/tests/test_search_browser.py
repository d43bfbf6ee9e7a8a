"""The search page in a real browser (Debian's chromium driven by Playwright) against a live server: search by
target and by position, a frame's headers, a zip of two selected frames, proprietary frames after logging in, and
the sky map. Screenshots are kept in test-artifacts/."""

import datetime
import io
import zipfile
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from conftest import ARTIFACTS
from frames.tests.factories import HeadersFactory, box
from frames.tests.storedfiles import frame_with_file

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def archive(tmp_path, make_user):
    """Four public frames with stored files around two targets, and one proprietary frame of proposal 007."""
    frames = {}
    for n, (target, ra, dec) in enumerate((("M51", 202.47, 47.19), ("M51", 202.5, 47.2), ("M42", 83.82, -5.39))):
        frame, _ = frame_with_file(
            tmp_path, seed=n + 1, basename=f"ogg2m001-ep02-20240501-{n:04d}-e91", target_name=target, area=box(ra, dec)
        )
        HeadersFactory(frame=frame, data={"OBJECT": target, "EXPTIME": 30.0, "FILTER": "rp"})
        frames[frame.basename] = frame
    secret, _ = frame_with_file(
        tmp_path,
        seed=9,
        basename="coj1m011-fa05-20240502-0001-e91",
        target_name="M42",
        proposal_id="LCO2024A-007",
        public_date=timezone.now() + datetime.timedelta(days=365),
        area=box(83.9, -5.4),
    )
    frames[secret.basename] = secret
    make_user("insider", proposals=["LCO2024A-007"])
    return frames


def shown(page) -> list[str]:
    return page.locator("#results tbody tr").evaluate_all("rows => rows.map(row => row.dataset.basename)")


def test_search_headers_zip_login_and_sky_map(live_server, archive, chromium):
    page = chromium
    page.goto(f"{live_server.url}/")
    assert page.title().startswith("Search")
    assert len(shown(page)) == 3  # the proprietary frame is not shown to an anonymous visitor
    assert page.locator("#sky-map polygon").count() == 3

    # By target: the query goes into the URL.
    page.fill("#id_target_name", "m51")
    page.click("button:has-text('Search')")
    page.wait_for_load_state()
    assert parse_qs(urlsplit(page.url).query)["target_name"] == ["m51"]
    assert sorted(shown(page)) == ["ogg2m001-ep02-20240501-0000-e91", "ogg2m001-ep02-20240501-0001-e91"]
    outlines = page.locator("#sky-map polygon").evaluate_all("shapes => shapes.map(s => s.dataset.basename)")
    assert sorted(outlines) == sorted(shown(page))

    # A frame's headers, fetched from the API when opened.
    row = page.locator("#results tbody tr").first
    row.locator("details.headers summary").click()
    row.locator("details.headers table").wait_for()
    assert "OBJECT" in row.locator("details.headers").inner_text()

    # Select both frames and download them as one zip.
    for box_ in page.locator("input[name=frame_ids]").all():
        box_.check()
    assert page.inner_text("#selected-count") == "2 frames selected."
    with page.expect_download() as download_info:
        page.click("#zip-button")
    download = download_info.value
    with zipfile.ZipFile(io.BytesIO(download.path().read_bytes())) as archive_zip:
        names = sorted(name.rsplit("/", 1)[-1] for name in archive_zip.namelist())
    assert names == [
        "MANIFEST.csv",
        "md5sums.txt",
        "ogg2m001-ep02-20240501-0000-e91.fits.fz",
        "ogg2m001-ep02-20240501-0001-e91.fits.fz",
    ]

    # By position, with a field error first.
    page.goto(f"{live_server.url}/?ra=83.8&dec=-5.4&radius=50")
    assert "at most 10 degrees" in page.inner_text("#radius-errors")
    page.fill("#id_radius", "0.5")
    page.click("button:has-text('Search')")
    page.wait_for_load_state()
    assert shown(page) == ["ogg2m001-ep02-20240501-0002-e91"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "search-anonymous.png"), full_page=True)

    # Logged in as a member of the proposal, the proprietary frame appears, marked.
    page.click("#log-in")
    page.fill("input[name=username]", "insider")
    page.fill("input[name=password]", "observer-pass-123")
    page.click("[type=submit]")
    page.wait_for_load_state()
    assert page.inner_text("#logged-in-as") == "insider"
    assert shown(page) == ["coj1m011-fa05-20240502-0001-e91", "ogg2m001-ep02-20240501-0002-e91"]
    assert page.locator("tr[data-basename='coj1m011-fa05-20240502-0001-e91'] .badge").inner_text() == "proprietary"
    assert page.locator("#sky-map polygon").count() == 2
    page.screenshot(path=str(ARTIFACTS / "search-member.png"), full_page=True)
    assert (ARTIFACTS / "search-member.png").stat().st_size > 10000
