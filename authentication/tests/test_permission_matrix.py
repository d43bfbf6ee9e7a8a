"""The permission matrix: anonymous, a portal user without proposals, a proposal member, portal staff and a portal
superuser (each logged in through the fake portal) against every frames endpoint, with the status each must get."""

import datetime
import hashlib
import io
import time

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from archive.filestore import get_filestore
from archive.filestore.local import make_download_token
from authentication.tests.conftest import logged_in_client
from frames.aggregates import aggregates_rebuild
from frames.models import Version
from frames.tests.factories import FrameFactory, HeadersFactory, ThumbnailFactory, VersionFactory
from frames.tests.storedfiles import fits_bytes

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:.*_after_postgeneration:DeprecationWarning"),
]

PAST = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
FUTURE = datetime.datetime(2999, 1, 1, tzinfo=datetime.UTC)
MEMBER_PROPOSAL = "LCO2025A-001"
OTHER_PROPOSAL = "LCOEPO2024B-002"
CALLERS = ["anonymous", "no_proposals", "member", "staff", "superuser"]

# endpoint: expected status per caller, in the order of CALLERS. "proprietary" is the member's frame, not yet public.
MATRIX = {
    "GET /frames/": (200, 200, 200, 200, 200),
    "GET /frames/<public>/": (200, 200, 200, 200, 200),
    "GET /frames/<proprietary>/": (404, 404, 200, 404, 200),
    "GET /frames/<public>/headers/": (200, 200, 200, 200, 200),
    "GET /frames/<proprietary>/headers/": (404, 404, 200, 404, 200),
    "GET /frames/<public>/related/": (200, 200, 200, 200, 200),
    "GET /frames/<proprietary>/related/": (404, 404, 200, 404, 200),
    "GET /frames/aggregate/": (200, 200, 200, 200, 200),
    "GET /versions/": (401, 403, 403, 200, 200),
    "GET /versions/<public>/": (401, 403, 403, 200, 200),
    "GET /versions/<proprietary>/": (401, 403, 403, 404, 200),
    "GET /thumbnails/": (200, 200, 200, 200, 200),
    "GET /thumbnails/<public>/": (200, 200, 200, 200, 200),
    "GET /thumbnails/<proprietary>/": (404, 404, 200, 404, 200),
    "POST /frames/": (401, 403, 403, 403, 400),
    "POST /thumbnails/": (401, 403, 403, 403, 400),
    "GET /download/<public version>": (200, 200, 200, 200, 200),
    "GET /download/<proprietary version>": (404, 404, 200, 404, 200),
    "GET /download/<proprietary thumbnail>": (404, 404, 200, 404, 200),
    "GET /frame-funpack/<public>/funpack/": (200, 200, 200, 200, 200),
    "GET /frame-funpack/<proprietary>/funpack/": (404, 404, 200, 404, 200),
    "GET /frame-catalog/<public>/catalog/": (200, 200, 200, 200, 200),
    "GET /frame-catalog/<proprietary>/catalog/": (404, 404, 200, 404, 200),
    "POST /frames/zip/ <public>": (200, 200, 200, 200, 200),
    "POST /frames/zip/ <proprietary>": (404, 404, 200, 404, 200),
    "POST /frames/upload/": (401, 403, 403, 403, 400),
}
# What each caller finds of the proprietary frame in lists and aggregates.
SEES_PROPRIETARY = {"anonymous": False, "no_proposals": False, "member": True, "staff": False, "superuser": True}


def stored_version(frame, data: bytes) -> Version:
    """`data` in the store as the frame's version; the frames of the matrix carry real FITS files with catalogs."""
    path = f"ogg/ep02/20240501/processed/{frame.basename}.fits.fz"
    md5 = hashlib.md5(data).hexdigest()
    key = get_filestore().put(path, io.BytesIO(data), md5=md5, size=len(data))
    return VersionFactory(frame=frame, key=key, store_path=path, md5=md5)


@pytest.fixture
def world(portal, tmp_path):
    public = FrameFactory(basename="matrix-public", proposal_id=OTHER_PROPOSAL, public_date=PAST, version=False)
    proprietary = FrameFactory(
        basename="matrix-proprietary", proposal_id=MEMBER_PROPOSAL, public_date=FUTURE, version=False
    )
    proprietary.related_frames.add(public)
    frames = {"public": public, "proprietary": proprietary}
    versions = {
        name: stored_version(frame, fits_bytes(tmp_path / f"{name}.fits.fz", with_catalog=True, seed=seed))
        for seed, (name, frame) in enumerate(frames.items())
    }
    thumbnails = {}
    for name, frame in frames.items():
        HeadersFactory(frame=frame, data={"OBJECT": name})
        thumbnail = ThumbnailFactory(frame=frame, store_path=f"ogg/ep02/20240501/thumbnails/{name}.jpg")
        thumbnail.key = get_filestore().put(thumbnail.store_path, io.BytesIO(b"JPEG"), md5=None, size=4)
        thumbnail.save()
        thumbnails[name] = thumbnail
    aggregates_rebuild()
    portal.add_user("nobody")
    portal.add_user("member", proposals=[MEMBER_PROPOSAL])
    portal.add_user("staffer", is_staff=True)
    portal.add_user("chief", is_staff=True, is_superuser=True)
    return frames, versions, thumbnails


def client_for(caller: str) -> APIClient:
    usernames = {"no_proposals": "nobody", "member": "member", "staff": "staffer", "superuser": "chief"}
    return APIClient() if caller == "anonymous" else logged_in_client(usernames[caller])


def download_path(kind: str, obj, user) -> str:
    """The local store's signed link for `obj`, issued to `user` (as the caller's own API responses would be)."""
    issued = int(time.time()) // 3600 * 3600
    user_id = user.id if user.is_authenticated else None
    token = make_download_token(kind=kind, object_id=obj.id, user_id=user_id, issued=issued)
    return reverse("frames:download", kwargs={"token": token, "filename": "file"})


def statuses(client: APIClient, world) -> dict[str, int]:
    frames, versions, thumbnails = world
    user = client.get("/profile/").wsgi_request.user
    ids = {name: frame.id for name, frame in frames.items()}
    got = {}
    for endpoint in MATRIX:
        method, path = endpoint.split(" ", 1)
        if path.startswith("/download/"):
            kind, name = ("t", "proprietary") if "thumbnail" in path else ("v", path.split("<")[1].split()[0])
            obj = thumbnails[name] if kind == "t" else versions[name]
            got[endpoint] = client.get(download_path(kind, obj, user)).status_code
            continue
        for name in ("public", "proprietary"):
            if path.startswith("/versions/"):
                path = path.replace(f"<{name}>", str(versions[name].id))
            elif path.startswith("/thumbnails/"):
                path = path.replace(f"<{name}>", str(thumbnails[name].id))
            else:
                path = path.replace(f"<{name}>", str(ids[name]))
        if path.startswith("/frames/zip/"):
            frame_id = ids["public" if "<public>" in endpoint else "proprietary"]
            response = client.post("/frames/zip/", {"frame_ids": [frame_id]}, format="json")
        elif method == "GET":
            response = client.get(path)
        elif path == "/frames/upload/":
            response = client.post(path, {})  # multipart, as uploads are
        else:
            response = client.post(path, {}, format="json")
        got[endpoint] = response.status_code
    return got


@pytest.mark.parametrize("caller", CALLERS)
def test_permission_matrix(world, caller):
    client = client_for(caller)
    expected = {endpoint: row[CALLERS.index(caller)] for endpoint, row in MATRIX.items()}
    assert statuses(client, world) == expected


@pytest.mark.parametrize("caller", CALLERS)
def test_lists_and_aggregates_show_the_proprietary_frame_to_members_and_superusers_only(world, caller):
    frames, _, thumbnails = world
    client = client_for(caller)
    listed = {item["id"] for item in client.get("/frames/").json()["results"]}
    assert (frames["proprietary"].id in listed) is SEES_PROPRIETARY[caller]
    assert frames["public"].id in listed
    related = {item["id"] for item in client.get(f"/frames/{frames['public'].id}/related/").json()}
    assert (frames["proprietary"].id in related) is SEES_PROPRIETARY[caller]
    thumbs = {item["id"] for item in client.get("/thumbnails/").json()["results"]}
    assert (thumbnails["proprietary"].id in thumbs) is SEES_PROPRIETARY[caller]
    proposals = client.get("/frames/aggregate/").json()["proposals"]
    assert (MEMBER_PROPOSAL in proposals) is SEES_PROPRIETARY[caller]
    private = client.get("/frames/aggregate/", {"start": "2024-01-01", "end": "2024-12-31"}).json()["proposals"]
    assert (MEMBER_PROPOSAL in private) is SEES_PROPRIETARY[caller]
    public_false = {item["id"] for item in client.get("/frames/", {"public": "false"}).json()["results"]}
    assert (frames["proprietary"].id in public_false) is SEES_PROPRIETARY[caller]


def test_the_members_own_links_download(world):
    frames, versions, _ = world
    client = client_for("member")
    detail = client.get(f"/frames/{frames['proprietary'].id}/").json()
    path = detail["url"].split("testserver", 1)[1]
    response = APIClient().get(path)  # links carry their own authorisation, as wget uses them
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert hashlib.md5(body).hexdigest() == versions["proprietary"].md5


def test_a_member_who_leaves_the_proposal_loses_the_links_and_the_frames(world, portal):
    frames, _, _ = world
    client = client_for("member")
    path = client.get(f"/frames/{frames['proprietary'].id}/").json()["url"].split("testserver", 1)[1]
    portal.users["member"].proposals = []
    from authentication.tests.conftest import token_login

    token_login("member", "portal-pass-1")  # a login refreshes the proposals
    assert client.get(f"/frames/{frames['proprietary'].id}/").status_code == 404
    assert APIClient().get(path).status_code == 404
