"""The VO services know callers as the rest of the API does: a portal bearer (validated at the observation portal,
faked on loopback), and staff and superusers with what they may see."""

import datetime

import pytest
from rest_framework.authtoken.models import Token

from authentication.tests.conftest import portal  # noqa: F401  (the fake observation portal)
from frames.tests.factories import FrameFactory, box
from vo.tests.helpers import parse_strict, rows

pytestmark = pytest.mark.django_db

FUTURE = datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC)


def seen(client, **headers) -> list[str]:
    response = client.get("/vo/sia2/query", {"POS": "CIRCLE 50 50 1"}, **headers)
    assert response.status_code == 200
    return sorted(row["obs_id"] for row in rows(parse_strict(b"".join(response.streaming_content))))


@pytest.fixture
def frames():
    FrameFactory(basename="open", area=box(50, 50))
    FrameFactory(basename="secret", proposal_id="LCO2025A-001", public_date=FUTURE, area=box(50.2, 50))


def test_a_portal_bearer_opens_its_users_proprietary_frames(client, portal, frames):  # noqa: F811
    portal.add_user("jdoe", proposals=["LCO2025A-001"])
    bearer = portal.issue_bearer("jdoe")
    assert seen(client) == ["open"]
    response = client.get("/vo/sia2/query", {"POS": "CIRCLE 50 50 1"}, HTTP_AUTHORIZATION=f"Bearer {bearer}")
    assert response["X-VO-Authenticated"] == "jdoe"
    assert sorted(row["obs_id"] for row in rows(parse_strict(b"".join(response.streaming_content)))) == [
        "open",
        "secret",
    ]
    refused = client.get("/vo/sia2/query", {"POS": "CIRCLE 50 50 1"}, HTTP_AUTHORIZATION="Bearer not-issued")
    assert refused.status_code == 401


def test_staff_see_their_proposals_and_superusers_everything(client, make_user, superuser, frames):
    staff = make_user("operator", staff=True)
    as_staff = {"HTTP_AUTHORIZATION": f"Token {Token.objects.get(user=staff).key}"}
    as_superuser = {"HTTP_AUTHORIZATION": f"Token {Token.objects.get(user=superuser).key}"}
    assert seen(client, **as_staff) == ["open"]  # staff without the proposal: only public data
    assert seen(client, **as_superuser) == ["open", "secret"]
    cone = client.get("/vo/scs/query", {"RA": 50, "DEC": 50, "SR": 1}, **as_superuser)
    assert cone.status_code == 200 and b"secret" in b"".join(cone.streaming_content)
    anonymous_cone = client.get("/vo/scs/query", {"RA": 50, "DEC": 50, "SR": 1})
    assert b"secret" not in b"".join(anonymous_cone.streaming_content)
