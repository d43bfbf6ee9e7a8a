"""The /downtimes/ page in a real browser: Debian's chromium driven by Playwright against a live server.

Filter, page and reset as a person would; a full-page screenshot is kept in test-artifacts/ (git-ignored, kept by CI).
"""

import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from conftest import ARTIFACTS
from downtimes.models import Downtime

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def downtimes_120():
    """120 downtimes over two sites: lco 80 (10 past, one active now), tst 40 (10 past)."""
    now = timezone.now().replace(microsecond=0)
    rows = []
    for site, count in (("lco", 80), ("tst", 40)):
        for n in range(count):
            if n < 10:  # ended
                start = now - datetime.timedelta(days=30 - n)
            elif n == 10 and site == "lco":  # going on now
                start = now - datetime.timedelta(hours=1)
            else:
                start = now + datetime.timedelta(days=n, hours=3 if site == "tst" else 0)
            rows.append(
                Downtime(
                    start=start,
                    end=start + datetime.timedelta(hours=2),
                    site=site,
                    enclosure="doma",
                    telescope="1m0a",
                    instrument_type="" if n % 3 else "1M0-SCICAM-SINISTRO",
                    reason=f"{'Engineering' if n % 2 else 'Maintenance'} {site} #{n}",
                )
            )
    Downtime.objects.bulk_create(rows)
    return now


def table(page) -> list[dict]:
    rows = []
    for row in page.locator("tbody tr").all():
        cells = row.locator("td")
        if cells.count() < 7:
            continue
        rows.append(
            {
                "start": cells.nth(0).locator("time").get_attribute("datetime"),
                "end": cells.nth(1).locator("time").get_attribute("datetime"),
                "site": cells.nth(2).inner_text().strip(),
            }
        )
    return rows


def test_filter_page_and_reset_in_a_real_browser(live_server, downtimes_120, chromium):
    now = downtimes_120
    page = chromium
    page.goto(f"{live_server.url}/downtimes/")

    # The default: not yet ended, by start; 100 of the 120 rows, 50 a page.
    headers = [text.strip() for text in page.locator("thead th").all_inner_texts()]
    assert headers[:2] == ["Start (UTC)", "End (UTC)"]
    assert "100 downtimes; showing 1–50" in page.inner_text("main")
    rows = table(page)
    assert len(rows) == 50
    assert all(row["end"] >= now.strftime("%Y-%m-%dT%H:%M:%SZ") for row in rows)
    assert [row["start"] for row in rows] == sorted(row["start"] for row in rows)
    assert page.locator("tr.active").count() == 1
    assert page.input_value("#id_ends_after") != ""

    # Filter on one site.
    page.select_option("#id_site", ["lco"])
    page.click("button:has-text('Filter')")
    page.wait_for_load_state()
    assert parse_qs(urlsplit(page.url).query)["site"] == ["lco"]
    assert "70 downtimes; showing 1–50" in page.inner_text("main")
    assert {row["site"] for row in table(page)} == {"lco"}

    # The page-2 link keeps the filter.
    page.click("nav.pagination a:text-is('2')")
    page.wait_for_load_state()
    query = parse_qs(urlsplit(page.url).query)
    assert query["site"] == ["lco"] and query["page"] == ["2"]
    assert "showing 51–70" in page.inner_text("main")
    assert {row["site"] for row in table(page)} == {"lco"}
    assert page.locator("#id_site option:checked").all_inner_texts() == ["lco"]

    # Reset clears every filter and the default applies again.
    page.click("a.reset")
    page.wait_for_load_state()
    assert urlsplit(page.url).path == "/downtimes/" and urlsplit(page.url).query == ""
    assert page.locator("#id_site option:checked").count() == 0
    assert page.input_value("#id_reason") == ""
    assert page.input_value("#id_ends_after") != ""
    assert "100 downtimes; showing 1–50" in page.inner_text("main")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "downtimes-page.png"), full_page=True)
    assert (ARTIFACTS / "downtimes-page.png").stat().st_size > 10000
