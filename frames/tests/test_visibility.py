"""Who sees which frame: every read route, for anonymous, users with and without proposals, staff and
superusers; the `public` parameter table; placeholders and version-less frames."""

import datetime

import pytest
import time_machine
from rest_framework.test import APIClient

from conftest import token_client
from frames.models import Frame, Headers, Version
from frames.tests.factories import FrameFactory, HeadersFactory, ThumbnailFactory, VersionFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:.*_after_postgeneration:DeprecationWarning"),
]

# Time stands still at NOW for every test of this module, so that "exactly now" is exactly now.
NOW = datetime.datetime(2030, 6, 1, 12, 0, tzinfo=datetime.UTC)
PAST = NOW - datetime.timedelta(days=1)
FUTURE = NOW + datetime.timedelta(days=365)
NOT_FOUND = {"detail": "Not found."}

PUBLIC_PROPOSAL = "LCOEPO2030A-001"
MEMBER_PROPOSAL = "LCO2030A-001"
OTHER_PROPOSAL = "LCO2030A-002"

# name: (proposal, public_date, has a version)
FRAMES = {
    "public": (PUBLIC_PROPOSAL, PAST, True),
    "own_public": (MEMBER_PROPOSAL, PAST, True),
    "own_proprietary": (MEMBER_PROPOSAL, FUTURE, True),
    "own_never": (MEMBER_PROPOSAL, None, True),
    "other_public": (OTHER_PROPOSAL, PAST, True),
    "other_proprietary": (OTHER_PROPOSAL, FUTURE, True),
    "other_never": (OTHER_PROPOSAL, None, True),
    "public_exactly_now": (PUBLIC_PROPOSAL, NOW, True),
    "versionless_public": (PUBLIC_PROPOSAL, PAST, False),
    "versionless_own": (MEMBER_PROPOSAL, FUTURE, False),
}
ALL_FRAMES = set(FRAMES) | {"placeholder"}

PUBLIC = {"public", "own_public", "other_public", "versionless_public"}
MEMBER = PUBLIC | {"own_proprietary", "own_never", "versionless_own"}
NON_MEMBER = PUBLIC | {"other_proprietary", "other_never"}
SUPERUSER = set(FRAMES)  # everything but the placeholder

VISIBLE = {
    "anonymous": PUBLIC,
    "no_proposals": PUBLIC,
    "member": MEMBER,
    "non_member": NON_MEMBER,
    "staff": PUBLIC,
    "staff_member": MEMBER,
    "superuser": SUPERUSER,
}
CALLERS = list(VISIBLE)
VERSIONLESS = {name for name, (_, _, versioned) in FRAMES.items() if not versioned}


def listed(names: set[str]) -> set[str]:
    """Lists show only frames with a version."""
    return names - VERSIONLESS


@pytest.fixture(autouse=True)
def frozen_time():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def world(make_user, superuser):
    """Frames of every kind, each with headers and a thumbnail; the placeholder linked from `own_public`."""
    frames = {}
    for index, (name, (proposal, public_date, versioned)) in enumerate(FRAMES.items()):
        frames[name] = FrameFactory(
            basename=f"vis-{name}",
            proposal_id=proposal,
            public_date=public_date,
            observation_date=datetime.datetime(2024, 5, 1, 10, 0, tzinfo=datetime.UTC)
            + datetime.timedelta(minutes=index),
            version=versioned,
        )
    # A placeholder: known only by its name; even with a public date, a version and a member's proposal it stays
    # invisible, because its observation_date is NULL.
    placeholder = Frame.objects.create(basename="vis-placeholder", proposal_id=MEMBER_PROPOSAL, public_date=PAST)
    VersionFactory(frame=placeholder, store_path="ogg/ep02/placeholder/vis-placeholder.fits.fz")
    frames["placeholder"] = placeholder
    for frame in frames.values():
        HeadersFactory(frame=frame, data={"OBJECT": frame.basename})
        ThumbnailFactory(frame=frame, store_path=f"ogg/ep02/20240501/thumbnails/{frame.basename}-small.jpg")
    frames["own_public"].related_frames.add(*[f for name, f in frames.items() if name != "own_public"])
    users = {
        "no_proposals": make_user("nobody"),
        "member": make_user("member", proposals=[MEMBER_PROPOSAL]),
        "non_member": make_user("non-member", proposals=[OTHER_PROPOSAL]),
        "staff": make_user("staffer", staff=True),
        "staff_member": make_user("staff-member", proposals=[MEMBER_PROPOSAL], staff=True),
        "superuser": superuser,
    }
    return frames, users


def client_for(caller: str, users: dict) -> APIClient:
    return APIClient() if caller == "anonymous" else token_client(users[caller])


def names_of(frames: dict, ids) -> set[str]:
    by_id = {frame.id: name for name, frame in frames.items()}
    return {by_id[i] for i in ids}


def list_names(client, frames, query: str = "") -> set[str]:
    response = client.get(f"/frames/?limit=1000{query}")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    ids = [item["id"] for item in results]
    assert len(ids) == len(set(ids))
    return names_of(frames, ids)


# --- /frames/ ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", CALLERS)
def test_list_shows_exactly_the_visible_frames_with_versions(world, caller):
    frames, users = world
    assert list_names(client_for(caller, users), frames) == listed(VISIBLE[caller])


@pytest.mark.parametrize("caller", CALLERS)
def test_list_count_matches(world, caller):
    frames, users = world
    response = client_for(caller, users).get("/frames/?limit=1000")
    assert response.json()["count"] == len(listed(VISIBLE[caller]))


@pytest.mark.parametrize("caller", CALLERS)
def test_detail_is_200_for_visible_frames_and_404_otherwise(world, caller):
    frames, users = world
    client = client_for(caller, users)
    for name in ALL_FRAMES:
        response = client.get(f"/frames/{frames[name].id}/")
        if name in VISIBLE[caller]:
            assert response.status_code == 200, (name, response.content)
            assert response.json()["basename"] == frames[name].basename
        else:
            assert response.status_code == 404, name
            assert response.json() == NOT_FOUND


def test_missing_frame_is_404_like_an_invisible_one(world):
    _, users = world
    response = token_client(users["superuser"]).get("/frames/999999999/")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


@pytest.mark.parametrize("caller", CALLERS)
def test_headers_are_200_for_visible_frames_and_404_otherwise(world, caller):
    frames, users = world
    client = client_for(caller, users)
    for name in ALL_FRAMES:
        response = client.get(f"/frames/{frames[name].id}/headers/")
        if name in VISIBLE[caller]:
            assert response.status_code == 200, name
            assert response.json() == {"data": {"OBJECT": frames[name].basename}}
        else:
            assert response.status_code == 404, name
            assert response.json() == NOT_FOUND


@pytest.mark.parametrize("caller", CALLERS)
def test_related_lists_only_visible_frames_and_404s_for_an_invisible_one(world, caller):
    frames, users = world
    client = client_for(caller, users)
    response = client.get(f"/frames/{frames['own_public'].id}/related/")
    assert response.status_code == 200
    data = response.json()
    assert isinstance(data, list)
    assert names_of(frames, [item["id"] for item in data]) == VISIBLE[caller] - {"own_public"}
    for name in ALL_FRAMES - VISIBLE[caller]:
        response = client.get(f"/frames/{frames[name].id}/related/")
        assert response.status_code == 404, name
        assert response.json() == NOT_FOUND


def test_related_ids_of_a_detail_come_from_the_link_table(world):
    """`related_frames` names every linked frame, placeholders included; the frames themselves stay hidden."""
    frames, users = world
    response = APIClient().get(f"/frames/{frames['own_public'].id}/")
    assert set(response.json()["related_frames"]) == {f.id for n, f in frames.items() if n != "own_public"}


# --- the edges of "public" ---------------------------------------------------------------------------------------


def test_public_date_exactly_now_is_not_public(world):
    frames, _ = world
    frame = frames["public_exactly_now"]
    assert frame.public_date == NOW
    assert APIClient().get(f"/frames/{frame.id}/").status_code == 404
    assert "public_exactly_now" not in list_names(APIClient(), frames)
    with time_machine.travel(NOW + datetime.timedelta(microseconds=1), tick=False):
        assert APIClient().get(f"/frames/{frame.id}/").status_code == 200


def test_null_public_date_is_never_public(world):
    frames, users = world
    with time_machine.travel(datetime.datetime(2999, 1, 1, tzinfo=datetime.UTC), tick=False):
        for caller in ("anonymous", "no_proposals", "staff"):
            client = client_for(caller, users)
            assert client.get(f"/frames/{frames['other_never'].id}/").status_code == 404
            names = list_names(client, frames)
            assert "other_never" not in names and "own_never" not in names
            # Everything with a date is public by then.
            assert "other_proprietary" in names


@pytest.mark.parametrize("caller", CALLERS)
def test_placeholders_are_never_visible(world, caller):
    frames, users = world
    client = client_for(caller, users)
    placeholder = frames["placeholder"]
    assert "placeholder" not in list_names(client, frames)
    assert "placeholder" not in list_names(client, frames, "&basename=placeholder")
    assert client.get(f"/frames/{placeholder.id}/").status_code == 404
    assert client.get(f"/frames/{placeholder.id}/headers/").status_code == 404
    assert client.get(f"/frames/{placeholder.id}/related/").status_code == 404
    thumbnail = placeholder.thumbnails.get()
    assert client.get(f"/thumbnails/{thumbnail.id}/").status_code == 404
    ids = {item["id"] for item in client.get("/thumbnails/?limit=1000").json()["results"]}
    assert thumbnail.id not in ids


def test_version_less_frames_appear_in_detail_but_not_in_lists(world):
    frames, users = world
    client = token_client(users["member"])
    for name in VERSIONLESS:
        response = client.get(f"/frames/{frames[name].id}/")
        assert response.status_code == 200
        assert response.json()["version_set"] == []
    names = list_names(client, frames)
    assert not names & VERSIONLESS
    assert not list_names(client, frames, "&basename=versionless")


# --- the `public` parameter (the table in docs/frames.md) -------------------------------------------------------

TRUE_VALUES = ["true", "True", "1"]
FALSE_VALUES = ["false", "False", "0"]
IGNORED_VALUES = ["yes", "TRUE", ""]


def expected_for_public(caller: str, value: str) -> set[str]:
    visible = listed(VISIBLE[caller])
    if value not in FALSE_VALUES:  # true, or ignored
        return visible
    if caller in ("anonymous", "no_proposals"):
        return set()
    if caller == "member":
        return {name for name in visible if FRAMES[name][0] == MEMBER_PROPOSAL}
    if caller == "superuser":
        return {name for name in visible if FRAMES[name][1] is None or FRAMES[name][1] >= NOW}
    raise AssertionError(caller)


@pytest.mark.parametrize("value", TRUE_VALUES + FALSE_VALUES + IGNORED_VALUES)
@pytest.mark.parametrize("caller", ["anonymous", "member", "no_proposals", "superuser"])
def test_public_parameter_table(world, caller, value):
    frames, users = world
    assert list_names(client_for(caller, users), frames, f"&public={value}") == expected_for_public(caller, value)


def test_public_table_spot_checks(world):
    """The table's cells spelled out, so that a mistake in `expected_for_public` cannot hide one in the code."""
    frames, users = world
    member = token_client(users["member"])
    assert list_names(member, frames, "&public=false") == {"own_public", "own_proprietary", "own_never"}
    assert list_names(member, frames, "&public=true") == {
        "public",
        "own_public",
        "other_public",
        "own_proprietary",
        "own_never",
    }
    superuser = token_client(users["superuser"])
    assert list_names(superuser, frames, "&public=0") == {
        "own_proprietary",
        "own_never",
        "other_proprietary",
        "other_never",
        "public_exactly_now",
    }
    assert list_names(token_client(users["no_proposals"]), frames, "&public=False") == set()
    assert list_names(APIClient(), frames, "&public=0") == set()
    assert list_names(APIClient(), frames, "&public=1") == {"public", "own_public", "other_public"}


def test_public_false_for_a_user_with_proposals_without_frames(world, make_user):
    frames, _ = world
    user = make_user("lonely", proposals=["LCO2030A-999"])
    assert list_names(token_client(user), frames, "&public=false") == set()
    assert list_names(token_client(user), frames) == listed(PUBLIC)


def test_empty_proposal_ids_are_dropped(world, make_user):
    """A profile holding "" must not open frames whose proposal_id is empty."""
    frames, _ = world
    blank = FrameFactory(basename="vis-blank-proposal", proposal_id="", public_date=FUTURE)
    user = make_user("blank", proposals=["", MEMBER_PROPOSAL])
    client = token_client(user)
    assert client.get(f"/frames/{blank.id}/").status_code == 404
    assert client.get(f"/frames/{frames['own_proprietary'].id}/").status_code == 200


# --- /thumbnails/ ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", CALLERS)
def test_thumbnails_of_visible_frames_only(world, caller):
    frames, users = world
    client = client_for(caller, users)
    response = client.get("/thumbnails/?limit=1000")
    assert response.status_code == 200
    frame_ids = [item["frame"] for item in response.json()["results"]]
    # Thumbnails follow visible_to alone: a version-less parent's thumbnail is shown.
    assert names_of(frames, frame_ids) == VISIBLE[caller]
    for name in ALL_FRAMES:
        thumbnail = frames[name].thumbnails.get()
        response = client.get(f"/thumbnails/{thumbnail.id}/")
        if name in VISIBLE[caller]:
            assert response.status_code == 200, name
            assert response.json()["frame"] == frames[name].id
        else:
            assert response.status_code == 404, name
            assert response.json() == NOT_FOUND


# --- /versions/ --------------------------------------------------------------------------------------------------


def test_versions_need_staff(world):
    frames, users = world
    version = Version.objects.filter(frame=frames["public"]).get()
    response = APIClient().get("/versions/")
    assert response.status_code == 401
    assert APIClient().get(f"/versions/{version.id}/").status_code == 401
    for caller in ("no_proposals", "member", "non_member"):
        client = token_client(users[caller])
        assert client.get("/versions/").status_code == 403, caller
        assert client.get(f"/versions/{version.id}/").status_code == 403, caller
        assert client.get(f"/versions/?md5={version.md5}").status_code == 403, caller


@pytest.mark.parametrize("caller", ["staff", "staff_member", "superuser"])
def test_versions_of_frames_visible_to_the_staff_member(world, caller):
    frames, users = world
    client = token_client(users[caller])
    response = client.get("/versions/?limit=1000")
    assert response.status_code == 200
    frame_of = dict(Version.objects.values_list("id", "frame_id"))
    seen = names_of(frames, [frame_of[item["id"]] for item in response.json()["results"]])
    expected = listed(VISIBLE[caller]) | ({"placeholder"} if caller == "superuser" else set())
    assert seen == expected
    assert response.json()["count"] == len(expected)
    for name in ALL_FRAMES - VERSIONLESS:
        version = Version.objects.get(frame=frames[name])
        detail = client.get(f"/versions/{version.id}/")
        assert detail.status_code == (200 if name in expected else 404), name


@pytest.mark.parametrize("caller", ["staff", "superuser"])
def test_versions_md5_really_filters(world, caller):
    frames, users = world
    client = token_client(users[caller])
    version = Version.objects.get(frame=frames["public"])
    response = client.get("/versions/?md5=0123456789abcdef0123456789abcdef")
    assert response.status_code == 200
    assert response.json()["count"] == 0
    assert response.json()["results"] == []
    for md5 in (version.md5, version.md5.upper()):
        response = client.get(f"/versions/?md5={md5}")
        assert response.json()["count"] == 1, md5
        assert [item["md5"] for item in response.json()["results"]] == [version.md5]


def test_versions_md5_of_an_invisible_frame_for_staff_and_superuser(world):
    frames, users = world
    version = Version.objects.get(frame=frames["other_proprietary"])
    assert token_client(users["staff"]).get(f"/versions/?md5={version.md5}").json()["count"] == 0
    assert token_client(users["superuser"]).get(f"/versions/?md5={version.md5}").json()["count"] == 1


def test_headers_of_a_frame_without_a_headers_row_do_not_leak_for_invisible_frames(world):
    frames, _ = world
    Headers.objects.filter(frame=frames["other_proprietary"]).delete()
    response = APIClient().get(f"/frames/{frames['other_proprietary'].id}/headers/")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
