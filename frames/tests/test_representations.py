"""The frames API's representations answer through hand-written functions for speed; their declared fields (which the
schema, OPTIONS and the browsable API are made from) must give exactly the same JSON through DRF's generic path."""

import datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from rest_framework import serializers

from frames import selectors
from frames.columns import FRAME_FIELDS
from frames.links import DownloadLinks
from frames.models import Frame, Thumbnail, Version
from frames.representations import (
    FrameRecordSerializer,
    FrameSerializer,
    ThumbnailSerializer,
    VersionSerializer,
)
from frames.tests.factories import FrameFactory, ThumbnailFactory, VersionFactory

pytestmark = pytest.mark.django_db


def generic(serializer) -> dict:
    """What DRF's own field-by-field path makes of the serializer's instance."""
    return serializers.Serializer.to_representation(serializer, serializer.instance)


@pytest.fixture
def links():
    request = RequestFactory().get("/frames/")
    request.user = AnonymousUser()
    return DownloadLinks(request)


@pytest.fixture
def frames():
    """Frames with and without a footprint, thumbnails, several versions and related frames, null fields."""
    full = FrameFactory()
    VersionFactory(frame=full, extension=".fits")
    ThumbnailFactory(frame=full)
    ThumbnailFactory(frame=full, size="large")
    bare = FrameFactory(area=None, exposure_time=None, observation_id=None, request_id=None, public_date=None)
    full.related_frames.add(bare)
    odd = FrameFactory(
        observation_date=datetime.datetime(2024, 5, 1, 10, 0, 0, 500, tzinfo=datetime.UTC), target_name="NGC 1"
    )
    ids = [full.id, bare.id, odd.id]
    page = list(Frame.objects.filter(id__in=ids).with_geojson().order_by("id"))
    return selectors.attach_related(page, related=True, thumbnails=True)


@pytest.mark.parametrize(("related", "thumbnails"), [(True, False), (False, True), (True, True), (False, False)])
def test_a_list_item_is_what_its_declared_fields_make(frames, links, related, thumbnails):
    context = {"links": links, "include_related": related, "include_thumbnails": thumbnails}
    for frame in frames:
        serializer = FrameSerializer(frame, context=context)
        expected = generic(serializer)
        if expected["area"] is None:
            del expected["area"]
        if not related:
            del expected["related_frames"]
        if not thumbnails:
            del expected["thumbnails"]
        assert serializer.data == expected


def test_a_record_is_what_its_declared_fields_make(frames, links):
    for frame in frames:
        serializer = FrameRecordSerializer(frame, context={"links": links})
        assert serializer.data == generic(serializer)


def test_versions_and_thumbnails_are_what_their_declared_fields_make(frames, links):
    for version in Version.objects.select_related("frame").filter(frame__in=frames):
        serializer = VersionSerializer(version, context={"links": links})
        assert serializer.data == generic(serializer)
    for thumbnail in Thumbnail.objects.filter(frame__in=frames):
        serializer = ThumbnailSerializer(thumbnail, context={"links": links})
        assert serializer.data == generic(serializer)


def test_every_field_of_the_table_is_declared_under_both_names():
    declared = FrameSerializer().fields
    for field in FRAME_FIELDS:
        assert declared[field.name].source == field.name
        assert declared[field.legacy].source == field.name
        assert Frame._meta.get_field(field.name).default in (field.default, Frame._meta.get_field(field.name).default)


def test_the_table_gives_new_rows_the_models_defaults():
    for field in FRAME_FIELDS:
        model_field = Frame._meta.get_field(field.name)
        if model_field.has_default():
            assert model_field.get_default() == field.default, field.name
        else:
            assert field.default is None and model_field.null, field.name


@pytest.fixture
def schema(api_client) -> dict:
    return api_client.get("/openapi/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def test_the_schema_describes_every_key_a_frame_is_answered_with(schema, api_client, frames):
    component = schema["components"]["schemas"]["Frame"]
    items = api_client.get("/frames/", {"include_thumbnails": "true"}).json()["results"]
    assert items
    for item in items:
        assert set(item) <= set(component["properties"])
        assert set(component["required"]) <= set(item)
    record = schema["components"]["schemas"]["FrameRecord"]
    related = api_client.get(f"/frames/{frames[0].id}/related/").json()
    for item in related:
        assert set(item) == set(record["properties"]) == set(record["required"])


def test_no_frames_response_is_a_bare_object(schema):
    """Every answer of the frames API is described by its fields (or is a file's bytes)."""
    for path, operations in schema["paths"].items():
        if not path.startswith(("/frames/", "/versions/", "/thumbnails/", "/frame-")):
            continue
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if not code.startswith("2"):
                    continue
                for content_type, content in response.get("content", {}).items():
                    described = content["schema"]
                    if content_type == "application/json":
                        assert "$ref" in described or "$ref" in described.get("items", {}), (method, path, code)
                    elif content_type.startswith("text/"):  # a script or a table: text of its own format
                        assert described.get("type") == "string", (method, path, code)
                    else:
                        assert described.get("format") == "binary", (method, path, code)
