"""The frames admin: the queues of owed work (outbox messages, file deletions), viewable, never added or deleted;
the frames list built for a million rows (search through the basename indexes, filters, a pinned number of bounded
queries); read-only versions and headers; deletion with the files; thumbnails."""

import datetime
import re

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from archive.admin import CappedCountPaginator
from frames.admin import FrameAdmin
from frames.aggregates import aggregates_rebuild
from frames.models import FileDeletion, Frame, OutboxMessage, Thumbnail, Version
from frames.tests.factories import FrameFactory, HeadersFactory, ThumbnailFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending_rows():
    due = timezone.now() + datetime.timedelta(minutes=5)
    return {
        "outboxmessage": OutboxMessage.objects.create(
            frame_id=1, exchange="archived_fits", message_id="1-abc", payload={"basename": "x"}, next_attempt_at=due
        ),
        "filedeletion": FileDeletion.objects.create(store_path="a/b.fits.fz", version_key="v1", next_attempt_at=due),
    }


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser, backend="authentication.backends.LocalAccountBackend")
    return client


@pytest.mark.parametrize("model", ["outboxmessage", "filedeletion"])
def test_owed_work_is_viewable_but_never_added_or_deleted(admin_client, pending_rows, model):
    row = pending_rows[model]
    changelist = admin_client.get(f"/admin/frames/{model}/")
    assert changelist.status_code == 200
    assert "delete_selected" not in changelist.content.decode()
    assert admin_client.get(f"/admin/frames/{model}/{row.pk}/change/").status_code == 200
    assert admin_client.get(f"/admin/frames/{model}/{row.pk}/delete/").status_code == 403
    assert admin_client.post(f"/admin/frames/{model}/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    admin_client.post(
        f"/admin/frames/{model}/", {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )
    assert type(row).objects.filter(pk=row.pk).exists()
    assert admin_client.get(f"/admin/frames/{model}/add/").status_code == 403


# --- The frames changelist: search, filters, bounded queries ---------------------------------------------------------


def frames_listed(client, query: str = "") -> list[str]:
    response = client.get(f"/admin/frames/frame/{query}")
    assert response.status_code == 200, response.content.decode()[:2000]
    return [frame.basename for frame in response.context["cl"].result_list]


@pytest.fixture
def sky():
    """Four frames that differ in every filtered column."""
    day = datetime.datetime(2024, 5, 1, 10, tzinfo=datetime.UTC)
    return {
        "a": FrameFactory(
            basename="ogg2m001-ep02-20240501-0001-e91", observation_date=day, site_id="ogg", instrument_id="ep02"
        ),
        "b": FrameFactory(
            basename="coj1m011-fa12-20240601-0002-e00",
            observation_date=day + datetime.timedelta(days=31),
            site_id="coj",
            instrument_id="fa12",
            proposal_id="LCO2024B-002",
            configuration_type="BIAS",
            reduction_level=0,
        ),
        "c": FrameFactory(
            basename="lsc1m005-fa15-20240701-0003-e91",
            observation_date=day + datetime.timedelta(days=61),
            site_id="lsc",
            instrument_id="fa15",
            proposal_id="LCO2024B-002",
        ),
        "d": FrameFactory(
            basename="OGG2M001-EP02-20240501-0004-E91",
            observation_date=day + datetime.timedelta(hours=1),
            site_id="ogg",
            instrument_id="ep02",
            reduction_level=90,
        ),
    }


def test_the_list_is_in_observation_date_order_newest_first(admin_client, sky):
    assert frames_listed(admin_client) == [sky[k].basename for k in ("c", "b", "d", "a")]


@pytest.mark.parametrize(
    "term, expected",
    [
        ("ogg2m001-ep02-20240501-0001-e91", ["a"]),  # a whole basename: only that frame, not its upper-case twin
        ("  ogg2m001-ep02-20240501-0001-e91 ", ["a"]),
        ("OGG2M001-ep02-20240501", ["d", "a"]),  # part of a basename, any case
        ("fa1", ["c", "b"]),
        ("e9", []),  # shorter than a trigram: whole basenames only
        ("no-such-frame", []),
    ],
)
def test_search_by_basename(admin_client, sky, term, expected):
    assert frames_listed(admin_client, f"?q={term}") == [sky[k].basename for k in expected]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("?site_id=ogg", ["d", "a"]),
        ("?instrument_id=fa12", ["b"]),
        ("?site_id=ogg&instrument_id=fa12", []),
        ("?proposal_id=LCO2024B-002", ["c", "b"]),
        ("?proposal_id=LCO2024B", []),  # proposals are matched exactly
        ("?observation_date__gte=2024-06-01+00:00:00%2B00:00&observation_date__lt=2024-07-01+00:00:00%2B00:00", ["b"]),
        ("?configuration_type=BIAS", ["b"]),
        ("?reduction_level=raw", ["b"]),
        ("?reduction_level=processed", ["c", "d", "a"]),
        ("?reduction_level=90", ["d"]),
        ("?reduction_level=ninety", []),
        ("?proposal_id=LCO2024B-002&q=lsc", ["c"]),
    ],
)
def test_each_list_filter(admin_client, sky, query, expected):
    assert frames_listed(admin_client, query) == [sky[k].basename for k in expected]


def test_the_filters_offer_the_aggregates_values_without_reading_the_frames(admin_client, sky):
    aggregates_rebuild()
    page = admin_client.get("/admin/frames/frame/")
    specs = {spec.title: spec for spec in page.context["cl"].filter_specs}
    assert [value for value, _ in specs["site"].lookup_choices] == ["coj", "lsc", "ogg"]
    assert [value for value, _ in specs["instrument"].lookup_choices] == ["ep02", "fa12", "fa15"]
    assert [value for value, _ in specs["configuration type"].lookup_choices] == ["BIAS", "EXPOSE"]
    html = page.content.decode()
    assert 'name="proposal_id"' in html  # the proposal filter is a text box: proposals are too many to list
    # A value the aggregate does not know yet (a frame ingested since) is still shown when it is the URL's.
    choices = admin_client.get("/admin/frames/frame/?site_id=tfn").context["cl"].filter_specs[0].lookup_choices
    assert ("tfn", "tfn") in choices


def test_the_proposal_box_keeps_the_other_filters(admin_client, sky):
    html = admin_client.get("/admin/frames/frame/?site_id=ogg&q=ep02&proposal_id=LCO2024A-001").content.decode()
    assert '<input type="hidden" name="site_id" value="ogg">' in html
    assert '<input type="hidden" name="q" value="ep02">' in html
    assert 'name="proposal_id" value="LCO2024A-001"' in html


def changelist_sql(client, query: str = "") -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/admin/frames/frame/{query}")
    assert response.status_code == 200
    return [entry["sql"] for entry in captured.captured_queries]


# session, user, the user's profile (the proposals' refresh), the aggregate's snapshot (the cache is empty in a test),
# the capped count, the page.
CHANGELIST_QUERIES = 6


@pytest.mark.parametrize(
    "query", ["", "?site_id=ogg&observation_date__gte=2024-01-01+00:00:00%2B00:00", "?reduction_level=processed"]
)
def test_the_changelist_costs_the_same_queries_for_3_or_30_frames(admin_client, query, django_assert_num_queries):
    FrameFactory.create_batch(3)
    with django_assert_num_queries(CHANGELIST_QUERIES):
        assert len(frames_listed(admin_client, query)) == 3
    FrameFactory.create_batch(27)
    with django_assert_num_queries(CHANGELIST_QUERIES):
        assert len(frames_listed(admin_client, query)) == 30


def test_the_changelist_never_counts_or_scans_every_frame(admin_client, sky):
    for query in ("", "?q=ogg2m001", "?site_id=ogg", "?proposal_id=LCO2024B-002", "?_facets=True", "?o=1"):
        statements = [sql for sql in changelist_sql(admin_client, query) if '"frames_frame"' in sql]
        counts = [sql for sql in statements if "COUNT(" in sql.upper()]
        # One count, over a subquery that stops after the cap: never COUNT(*) of the whole (filtered) table.
        assert len(counts) == 1, (query, counts)
        assert re.fullmatch(r"SELECT COUNT\(\*\) FROM \(SELECT .* LIMIT 10001\) subquery", counts[0]), counts[0]
        # No distinct values of a column (list filters' choices, the date hierarchy's years).
        assert not [sql for sql in statements if "DISTINCT" in sql.upper()], query
        page = [sql for sql in statements if "COUNT(" not in sql.upper() and "LIMIT 1" not in sql]
        assert len(page) == 1 and '"frames_frame"."area"' not in page[0], page  # no footprint is read


def test_the_default_order_is_the_date_index(admin_client, sky):
    (page,) = [sql for sql in changelist_sql(admin_client) if "ORDER BY" in sql and '"frames_frame"' in sql]
    assert page.endswith('ORDER BY "frames_frame"."observation_date" DESC, "frames_frame"."id" DESC')
    # Only indexed columns can be sorted on.
    assert FrameAdmin.sortable_by == ("basename", "observation_date", "public_date")


def test_past_the_cap_the_count_says_more_than(admin_client, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 4)
    FrameFactory.create_batch(6)
    response = admin_client.get("/admin/frames/frame/?p=1")
    assert response.context["cl"].result_count == 4 and response.context["cl"].paginator.capped
    html = response.content.decode()
    assert "more than 4 frames" in html
    assert "Select all matching frames (more than 4)" in html
    monkeypatch.setattr(CappedCountPaginator, "cap", 10)
    html = admin_client.get("/admin/frames/frame/").content.decode()
    assert "more than" not in html and "6 frames" in html


def test_the_search_uses_the_unique_and_trigram_indexes(admin_client, sky):
    exact = changelist_sql(admin_client, f"?q={sky['a'].basename}")
    assert any(f'WHERE "frames_frame"."basename" = \'{sky["a"].basename}\'' in sql for sql in exact)
    assert not any("UPPER(" in sql for sql in exact)
    contains = changelist_sql(admin_client, "?q=20240501")
    # The expression of the trigram index (frame_basename_trgm_idx): UPPER(basename).
    assert any('UPPER("frames_frame"."basename"::text) LIKE UPPER(\'%20240501%\')' in sql for sql in contains)


def test_the_change_page_shows_versions_and_headers_read_only(admin_client):
    frame = FrameFactory()
    HeadersFactory(frame=frame, data={"OBJECT": "M51", "USERID": "jdoe"})
    ThumbnailFactory(frame=frame)
    response = admin_client.get(f"/admin/frames/frame/{frame.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    version = frame.version_set.get()
    assert version.md5 in html and "jdoe" in html
    for formset in response.context["inline_admin_formsets"]:
        assert not formset.has_add_permission and not formset.has_change_permission
        assert not formset.formset.can_delete


# --- Deleting frames with their files --------------------------------------------------------------------------------


def test_the_delete_action_confirms_then_deletes_the_frames_and_queues_their_files(admin_client):
    doomed = FrameFactory.create_batch(2)
    ThumbnailFactory(frame=doomed[0])
    kept = FrameFactory()
    paths = set(Version.objects.filter(frame__in=doomed).values_list("store_path", flat=True)) | set(
        Thumbnail.objects.filter(frame__in=doomed).values_list("store_path", flat=True)
    )
    selected = {"action": "delete_frames_and_files", "_selected_action": [frame.pk for frame in doomed]}

    confirmation = admin_client.post("/admin/frames/frame/", selected)
    assert confirmation.status_code == 200
    assert confirmation.context["counts"] == {"frames": 2, "versions": 2}
    html = confirmation.content.decode()
    assert doomed[0].basename in html and kept.basename not in html
    assert Frame.objects.count() == 3  # nothing deleted yet

    response = admin_client.post("/admin/frames/frame/", {**selected, "post": "yes"}, follow=True)
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == ["Deleted 2 frames; 3 stored files are being deleted."]
    assert list(Frame.objects.all()) == [kept]
    assert set(FileDeletion.objects.values_list("store_path", flat=True)) == paths
    assert not Version.objects.filter(frame_id__in=[frame.pk for frame in doomed]).exists()


def test_django_s_own_delete_action_is_not_offered(admin_client):
    FrameFactory()
    actions = (
        admin_client.get("/admin/frames/frame/")
        .context["cl"]
        .model_admin.get_actions(admin_client.get("/admin/frames/frame/").wsgi_request)
    )
    assert list(actions) == ["delete_frames_and_files"]


def test_staff_without_the_delete_permission_do_not_get_the_delete_action(make_user):
    staff = make_user("archivist", staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="frames", codename__in=["view_frame", "change_frame"])
    )
    client = Client()
    client.force_login(staff, backend="authentication.backends.LocalAccountBackend")
    frame = FrameFactory()
    page = client.get("/admin/frames/frame/")
    assert page.status_code == 200
    assert "delete_frames_and_files" not in page.content.decode()
    client.post(
        "/admin/frames/frame/",
        {"action": "delete_frames_and_files", "_selected_action": [frame.pk], "post": "yes"},
    )
    assert Frame.objects.filter(pk=frame.pk).exists() and not FileDeletion.objects.exists()
    assert client.post(f"/admin/frames/frame/{frame.pk}/delete/", {"post": "yes"}).status_code == 403


# --- Thumbnails ------------------------------------------------------------------------------------------------------


def thumbnails_listed(client, query: str = "") -> list[str]:
    response = client.get(f"/admin/frames/thumbnail/{query}")
    assert response.status_code == 200
    return [thumbnail.basename for thumbnail in response.context["cl"].result_list]


def test_thumbnails_search_and_filter(admin_client):
    first, second = FrameFactory.create_batch(2)
    small = ThumbnailFactory(frame=first, size="small")
    large = ThumbnailFactory(frame=first, size="large")
    other = ThumbnailFactory(frame=second, size="small")
    assert thumbnails_listed(admin_client, f"?q={small.basename}") == [small.basename]
    assert thumbnails_listed(admin_client, f"?q={first.basename}") == [large.basename, small.basename]
    assert thumbnails_listed(admin_client, "?size=small") == [other.basename, small.basename]
    assert thumbnails_listed(admin_client, "?size=small&q=" + first.basename) == [small.basename]


def test_the_thumbnail_list_costs_the_same_queries_for_1_or_10(admin_client, django_assert_num_queries):
    ThumbnailFactory()
    # session, user, profile, the capped count, the page with its frames
    with django_assert_num_queries(5):
        assert len(thumbnails_listed(admin_client)) == 1
    ThumbnailFactory.create_batch(9)
    with django_assert_num_queries(5):
        assert len(thumbnails_listed(admin_client)) == 10
