"""Every endpoint the OpenAPI schema lists, for every kind of caller: the browsable API renders it (a page, or the
page of the error the caller gets) and OPTIONS describes it. A new endpoint is covered as soon as it is routed."""

import datetime
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import token_client
from datalab.models import DataOperation, DataSession, OperationRun
from downtimes.tests.factories import DowntimeFactory
from frames.tests.factories import FrameFactory, HeadersFactory, ThumbnailFactory

pytestmark = [pytest.mark.django_db, pytest.mark.reliability]

CALLERS = ("anonymous", "member", "staff", "superuser")
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# Answers that are a file's bytes, not a rendered page.
BYTE_ANSWERS = ("/funpack/", "/catalog/", "/download-script/")
PORTAL_PUSH = "/authprofile/addupdateuser/"
# Answers JSON to every caller, browsers included: web pages log in through it.
JSON_ONLY = ("/api-token-auth/",)


@pytest.fixture
def world(make_user, superuser):
    """One of each object the paths name, a proprietary frame of the member's proposal among them."""
    member = make_user("member", proposals=["LCO2024A-001"])
    staff = make_user("operator", staff=True)
    frame = FrameFactory(public_date=timezone.now() + datetime.timedelta(days=365))
    HeadersFactory(frame=frame)
    thumbnail = ThumbnailFactory(frame=frame)
    downtime = DowntimeFactory()
    now = timezone.now()
    session = DataSession.objects.create(user=member, name="Browsing", modified=now, accessed=now)
    run = OperationRun.objects.create(
        key=uuid.uuid4().hex * 2, name="Median", version=1, inputs={"params": {}, "files": {}}
    )
    operation = DataOperation.objects.create(session=session, name="Median", input_data={}, run=run)
    clients = {"anonymous": APIClient(), "member": token_client(member), "staff": token_client(staff)}
    clients["superuser"] = token_client(superuser)
    values = {
        "/frames/": frame.id,
        "/frame-": frame.id,
        "/versions/": frame.version_set.get().id,
        "/thumbnails/": thumbnail.id,
        "/downtimes/": downtime.id,
        "/api/datasessions/": session.id,
    }
    return {"clients": clients, "values": values, "operation": operation.id, "session": session.id}


def concrete(path: str, world) -> str:
    """The schema's path with its parameters replaced by the ids of real objects."""
    if "{session_pk}" in path:
        path = path.replace("{session_pk}", str(world["session"])).replace("{id}", str(world["operation"]))
    if "{action_name}" in path:
        path = path.replace("{action_name}", "image-stats")
    if "{id}" in path:
        value = next(v for prefix, v in world["values"].items() if path.startswith(prefix))
        path = path.replace("{id}", str(value))
    return path


@pytest.fixture
def schema_paths(api_client) -> dict:
    response = api_client.get(reverse("openapi"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()["paths"]


def test_the_schema_lists_the_endpoints_of_every_app(schema_paths):
    prefixes = ("/frames/", "/versions/", "/thumbnails/", "/downtimes/api/", "/api/datasessions/", "/profile/")
    for prefix in prefixes:
        assert any(path.startswith(prefix) for path in schema_paths), prefix


@pytest.mark.parametrize("caller", CALLERS)
def test_every_endpoint_renders_in_the_browsable_api(caller, world, schema_paths):
    client = world["clients"][caller]
    rendered = 0
    for template, operations in schema_paths.items():
        path = concrete(template, world)
        response = client.get(path, HTTP_ACCEPT=BROWSER)
        assert response.status_code < 500, (caller, path, response.status_code)
        if any(marker in path for marker in BYTE_ANSWERS) and response.status_code == 200 or path in JSON_ONLY:
            continue
        assert response["Content-Type"].startswith("text/html"), (caller, path, response["Content-Type"])
        body = response.content.decode()
        assert "<html" in body, (caller, path)
        rendered += 1
        if "get" in operations and response.status_code == 200:
            assert "&quot;" in body or "<pre" in body, (caller, path)  # the JSON answer is shown on the page
    assert rendered >= len(schema_paths) - len(BYTE_ANSWERS) - len(JSON_ONLY)


def test_a_superuser_sees_the_forms_of_the_writes(world):
    client = world["clients"]["superuser"]
    for path in ("/frames/", "/thumbnails/", "/downtimes/api/"):
        body = client.get(path, HTTP_ACCEPT=BROWSER).content.decode()
        assert 'method="POST"' in body or 'method="post"' in body.lower(), path


@pytest.mark.parametrize("caller", CALLERS)
def test_options_describes_every_endpoint(caller, world, schema_paths):
    client = world["clients"][caller]
    for template in schema_paths:
        path = concrete(template, world)
        response = client.options(path)
        assert response.status_code < 500, (caller, path, response.status_code)
        if caller == "superuser" and "/datasessions/" not in path and path != PORTAL_PUSH:
            assert response.status_code == 200, (path, response.status_code, response.content[:200])
        if response.status_code == 200:
            data = response.json()
            assert data["name"] and "renders" in data and "parses" in data, path


def test_options_of_the_frames_list_describes_the_ingest_to_a_superuser(world):
    actions = world["clients"]["superuser"].options("/frames/").json()["actions"]["POST"]
    assert {"basename", "version_set", "headers", "observation_date", "area"} <= set(actions)
    assert actions["version_set"]["child"]["children"]["md5"]["required"] is True
    assert "actions" not in world["clients"]["anonymous"].options("/frames/").json()


def test_options_describes_the_portal_push_to_the_portal(settings, api_client):
    settings.OAUTH_SERVER_KEY = "shared-portal-key"
    assert api_client.options(PORTAL_PUSH).status_code == 403
    response = api_client.options(PORTAL_PUSH, HTTP_AUTHORIZATION="Server shared-portal-key")
    assert response.status_code == 200
    assert "username" in response.json()["actions"]["POST"]
