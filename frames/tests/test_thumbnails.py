"""Thumbnails: POST as the ingester sends them, and the /thumbnails/ list and item."""

import datetime
import json
import uuid

import pytest
from rest_framework.test import APIClient

from conftest import token_client
from frames.models import Frame, Headers, Thumbnail, Version
from frames.tests.factories import FrameFactory, ThumbnailFactory, ingest_body
from frames.tests.shapes import LIMIT_ENVELOPE, RECORD_KEYS, THUMBNAIL_KEYS

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:.*_after_postgeneration:DeprecationWarning"),
]


FRAME_BASENAME = "coj1m011-kb05-20150219-0125-e91"
RESPONSE_KEYS = {"id", "frame", "size", "basename", "url", "key", "extension"}


def thumbnail_body(frame_basename: str = FRAME_BASENAME, size: str = "small", **overrides) -> dict:
    """The body ocs-ingester 3.2.0 POSTs to /thumbnails/: the frame's fields and headers, the thumbnail's file."""
    body = ingest_body(frame_basename)
    body.update(
        basename=f"{frame_basename}-{size}",
        frame_basename=frame_basename,
        size=size,
        version_set=[{"key": str(uuid.uuid4()), "md5": uuid.uuid4().hex, "extension": ".jpg"}],
        area=None,
        related_frame_filenames=[],
    )
    body.update(overrides)
    return body


def post(client, body, path="/thumbnails/"):
    return client.post(path, json.dumps(body), content_type="application/json")


# --- POST /thumbnails/ -------------------------------------------------------------------------------------------


def test_thumbnail_post_response_shape(superuser_client):
    body = thumbnail_body()
    response = post(superuser_client, body)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert set(data) == RESPONSE_KEYS
    assert data["basename"] == f"{FRAME_BASENAME}-small"
    assert data["size"] == "small"
    assert data["extension"] == ".jpg"
    assert data["key"] == body["version_set"][0]["key"]
    assert data["url"].startswith("http://testserver/")
    assert set(data["frame"]) == RECORD_KEYS
    assert data["frame"]["basename"] == FRAME_BASENAME
    thumbnail = Thumbnail.objects.get(pk=data["id"])
    assert thumbnail.frame_id == data["frame"]["id"]
    assert thumbnail.store_path == f"coj/kb05/20150219/thumbnails/{FRAME_BASENAME}-small.jpg"


def test_thumbnail_first_creates_the_parent_without_a_version(superuser_client):
    body = thumbnail_body()
    data = post(superuser_client, body).json()
    parent = data["frame"]
    assert parent["version_set"] == []
    assert parent["url"] is None and parent["filename"] is None
    assert parent["area"] is None
    assert parent["observation_date"] == "2015-02-19T13:56:05.261000Z"
    assert parent["proposal_id"] == "LCOEPO2014B-010"
    frame = Frame.objects.get(basename=FRAME_BASENAME)
    assert not Version.objects.filter(frame=frame).exists()
    assert Headers.objects.get(frame=frame).data == body["headers"]
    # The thumbnail's own basename is not a frame.
    assert not Frame.objects.filter(basename=f"{FRAME_BASENAME}-small").exists()


def test_a_later_frame_post_fills_the_parent(superuser_client):
    thumbnail = post(superuser_client, thumbnail_body()).json()
    frame_body = ingest_body(FRAME_BASENAME, related_frame_filenames=[], target_name="M87")
    response = post(superuser_client, frame_body, path="/frames/")
    assert response.status_code == 201, response.json()
    assert response.json()["id"] == thumbnail["frame"]["id"]
    assert response.json()["target_name"] == "M87"
    assert Frame.objects.filter(basename=FRAME_BASENAME).count() == 1
    assert Version.objects.filter(frame__basename=FRAME_BASENAME).count() == 1
    assert Version.objects.get(frame__basename=FRAME_BASENAME).md5 == frame_body["version_set"][0]["md5"]
    assert Thumbnail.objects.get().frame_id == response.json()["id"]


def test_an_existing_parent_is_reused(superuser_client):
    frame_body = ingest_body(FRAME_BASENAME, related_frame_filenames=[])
    frame = post(superuser_client, frame_body, path="/frames/").json()
    response = post(superuser_client, thumbnail_body(target_name="Something else", public_date=None))
    assert response.status_code == 201, response.json()
    parent = response.json()["frame"]
    assert parent["id"] == frame["id"]
    assert [v["md5"] for v in parent["version_set"]] == [frame_body["version_set"][0]["md5"]]
    assert parent["url"] == parent["version_set"][0]["url"]
    assert Frame.objects.filter(basename=FRAME_BASENAME).count() == 1
    stored = Frame.objects.get(basename=FRAME_BASENAME)
    assert stored.target_name == "M84"
    assert stored.public_date is not None


def test_thumbnail_md5_is_not_checked_against_frame_versions(superuser_client):
    frame_body = ingest_body(FRAME_BASENAME, related_frame_filenames=[])
    post(superuser_client, frame_body, path="/frames/")
    md5 = frame_body["version_set"][0]["md5"]
    body = thumbnail_body(version_set=[{"key": str(uuid.uuid4()), "md5": md5, "extension": ".jpg"}])
    assert post(superuser_client, body).status_code == 201


def test_missing_size(superuser_client):
    body = thumbnail_body()
    del body["size"]
    response = post(superuser_client, body)
    assert response.status_code == 400
    assert response.json() == {"size": ["This field is required."]}
    assert not Thumbnail.objects.exists()
    assert not Frame.objects.exists()


@pytest.mark.parametrize("size", ["huge", "", "SMALL"])
def test_invalid_size(superuser_client, size):
    response = post(superuser_client, thumbnail_body(size=size))
    assert response.status_code == 400
    assert set(response.json()) == {"size"}
    assert not Thumbnail.objects.exists()


def test_missing_frame_basename_and_empty_version_set(superuser_client):
    body = thumbnail_body()
    del body["frame_basename"]
    response = post(superuser_client, body)
    assert response.status_code == 400
    assert response.json() == {"frame_basename": ["This field is required."]}
    response = post(superuser_client, thumbnail_body(version_set=[]))
    assert response.status_code == 400
    assert set(response.json()) == {"version_set"}
    assert not Frame.objects.exists()


def test_configuration_type_may_be_empty(superuser_client):
    response = post(superuser_client, thumbnail_body(configuration_type=""))
    assert response.status_code == 201, response.json()


def test_two_thumbnail_basenames_make_two_rows(superuser_client):
    small = post(superuser_client, thumbnail_body(size="small"))
    large = post(superuser_client, thumbnail_body(size="large"))
    assert small.status_code == large.status_code == 201
    assert small.json()["id"] != large.json()["id"]
    assert small.json()["frame"]["id"] == large.json()["frame"]["id"]
    assert set(Thumbnail.objects.values_list("basename", "size")) == {
        (f"{FRAME_BASENAME}-small", "small"),
        (f"{FRAME_BASENAME}-large", "large"),
    }
    assert Frame.objects.count() == 1


def test_the_same_payload_twice_is_one_row(superuser_client):
    body = thumbnail_body()
    first = post(superuser_client, body)
    second = post(superuser_client, body)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert Thumbnail.objects.count() == 1
    assert Frame.objects.count() == 1


def test_only_superusers_post_thumbnails(api_client, make_user):
    response = post(api_client, thumbnail_body())
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert post(token_client(make_user("staffer", staff=True)), thumbnail_body()).status_code == 403
    assert post(token_client(make_user("member", proposals=["LCOEPO2014B-010"])), thumbnail_body()).status_code == 403
    assert not Thumbnail.objects.exists()
    assert not Frame.objects.exists()


# --- GET /thumbnails/ --------------------------------------------------------------------------------------------

FUTURE = datetime.datetime(2999, 1, 1, tzinfo=datetime.UTC)


@pytest.fixture
def thumbnails():
    alpha = FrameFactory(basename="alpha", proposal_id="PROP-A", observation_id=11, request_id=21)
    beta = FrameFactory(basename="beta", proposal_id="PROP-B", observation_id=12, request_id=22)
    secret = FrameFactory(basename="secret", proposal_id="PROP-S", observation_id=13, request_id=23, public_date=FUTURE)
    rows = {
        "alpha-small": ThumbnailFactory(frame=alpha, size="small"),
        "alpha-large": ThumbnailFactory(frame=alpha, size="large"),
        "beta-small": ThumbnailFactory(frame=beta, size="small"),
        "secret-small": ThumbnailFactory(frame=secret, size="small"),
    }
    return rows


def basenames(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["basename"] for item in response.json()["results"]]


def test_thumbnail_list_envelope_and_order(thumbnails, api_client):
    response = api_client.get("/thumbnails/")
    assert set(response.json()) == LIMIT_ENVELOPE
    assert response.json()["count"] == 3
    assert response.json()["count_estimated"] is False
    expected = sorted((t for name, t in thumbnails.items() if name != "secret-small"), key=lambda t: t.id, reverse=True)
    assert basenames(response) == [t.basename for t in expected]
    assert all(set(item) == THUMBNAIL_KEYS for item in response.json()["results"])


def test_thumbnail_list_pages_in_id_order(thumbnails, api_client):
    first = api_client.get("/thumbnails/?limit=2").json()
    assert first["next"] is not None and first["previous"] is None
    second = api_client.get(first["next"]).json()
    ids = [item["id"] for item in first["results"] + second["results"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 3


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("frame_basename=alpha", {"alpha-small", "alpha-large"}),
        ("frame_basename=alph", set()),
        ("proposal_id=PROP-B", {"beta-small"}),
        ("proposal_id=PROP", set()),
        ("observation_id=11", {"alpha-small", "alpha-large"}),
        ("request_id=22", {"beta-small"}),
        ("size=small", {"alpha-small", "beta-small"}),
        ("size=large", {"alpha-large"}),
        ("size=large&frame_basename=beta", set()),
        ("proposal_id=PROP-S", set()),
        ("unknown=1", {"alpha-small", "alpha-large", "beta-small"}),
    ],
)
def test_thumbnail_filters(thumbnails, api_client, query, expected):
    names = {name for name, t in thumbnails.items() if t.basename in basenames(api_client.get(f"/thumbnails/?{query}"))}
    assert names == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [("size=huge", "size"), ("observation_id=abc", "observation_id"), ("request_id=x", "request_id")],
)
def test_thumbnail_filter_errors(thumbnails, api_client, query, field):
    response = api_client.get(f"/thumbnails/?{query}")
    assert response.status_code == 400
    assert set(response.json()) == {field}


def test_thumbnail_visibility(thumbnails, api_client, make_user):
    secret = thumbnails["secret-small"]
    assert api_client.get(f"/thumbnails/{secret.id}/").status_code == 404
    assert api_client.get(f"/thumbnails/{secret.id}/").json() == {"detail": "Not found."}
    assert api_client.get("/thumbnails/?frame_basename=secret").json()["count"] == 0
    member = token_client(make_user("member", proposals=["PROP-S"]))
    assert member.get(f"/thumbnails/{secret.id}/").status_code == 200
    assert "secret-small" in basenames(member.get("/thumbnails/?frame_basename=secret"))
    assert member.get("/thumbnails/").json()["count"] == 4
    outsider = token_client(make_user("outsider", proposals=["PROP-X"]))
    assert outsider.get(f"/thumbnails/{secret.id}/").status_code == 404
    assert APIClient().get("/thumbnails/999999/").status_code == 404


def test_posted_thumbnail_is_listed_with_its_parent(superuser_client, api_client):
    data = post(superuser_client, thumbnail_body()).json()
    listed = api_client.get(f"/thumbnails/?frame_basename={FRAME_BASENAME}").json()["results"]
    assert [item["id"] for item in listed] == [data["id"]]
    assert listed[0]["frame"] == data["frame"]["id"]


def test_a_placeholder_parent_is_filled_from_the_thumbnail_body(superuser_client):
    """A frame known only as another frame's related name is "none" yet: the thumbnail body fills it, headers too."""
    placeholder = Frame.objects.create(basename=FRAME_BASENAME)
    body = thumbnail_body()
    response = post(superuser_client, body)
    assert response.status_code == 201, response.json()
    assert response.json()["frame"]["id"] == placeholder.id
    assert response.json()["frame"]["observation_date"] == "2015-02-19T13:56:05.261000Z"
    assert Headers.objects.get(frame=placeholder).data == body["headers"]
    assert APIClient().get(f"/frames/{placeholder.id}/headers/").json() == {"data": body["headers"]}
