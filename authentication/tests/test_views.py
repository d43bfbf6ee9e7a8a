"""`/revoke_token/`, `/profile/`, `/health/`'s portal entry and the OpenAPI description of the app."""

import jsonschema
import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from authentication.models import AuthEvent
from authentication.tests.conftest import client_with, logged_in_client, token_login

pytestmark = pytest.mark.django_db

User = get_user_model()


# --- /revoke_token/ ------------------------------------------------------------------------------------------------


def test_revoking_replaces_the_local_token(make_user):
    user = make_user("local")
    old = Token.objects.get(user=user).key
    client = client_with("Token", old)
    response = client.post("/revoke_token/")
    assert response.status_code == 200
    assert response.json() == {"message": "API token revoked."}
    new = Token.objects.get(user=user).key
    assert new != old and len(new) == 40
    assert client.get("/profile/").status_code == 401
    assert client_with("Token", new).get("/profile/").json()["username"] == "local"
    assert AuthEvent.objects.filter(kind="token_revoked", outcome="ok", user=user).count() == 1


def test_revoking_without_a_token_is_not_a_500(superuser):
    from django.test import Client

    client = Client()
    client.force_login(superuser, backend="authentication.backends.LocalAccountBackend")
    Token.objects.filter(user=superuser).delete()
    response = client.post("/revoke_token/")
    assert response.status_code == 200
    assert Token.objects.filter(user=superuser).count() == 1


def test_revoking_leaves_the_portal_mirror_alone(portal):
    portal.add_user("jdoe")
    client = logged_in_client("jdoe")
    assert client_with("Token", portal.users["jdoe"].api_token).post("/revoke_token/").status_code == 200
    assert client.get("/profile/").status_code == 401
    assert client_with("Token", portal.users["jdoe"].api_token).get("/profile/").json()["username"] == "jdoe"
    assert token_login("jdoe", "portal-pass-1").json()["token"] == Token.objects.get(user__username="jdoe").key


def test_revoking_by_bearer(portal):
    portal.add_user("jdoe")
    assert client_with("Bearer", portal.issue_bearer("jdoe")).post("/revoke_token/").status_code == 200


def test_revoking_needs_authentication():
    response = APIClient().post("/revoke_token/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_revoking_is_post_only(make_user):
    client = client_with("Token", Token.objects.get(user=make_user("local")).key)
    assert client.get("/revoke_token/").status_code == 405


# --- /profile/ -----------------------------------------------------------------------------------------------------


def test_the_anonymous_profile():
    response = APIClient().get("/profile/")
    assert response.status_code == 200
    assert response.json() == {"username": "", "profile": {}, "is_staff": False}


def test_the_anonymous_profile_matches_the_schema():
    """The anonymous answer's empty `profile` is what the schema says a profile may be (`proposals` not required)."""
    schema = APIClient().get("/openapi/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    answer = schema["paths"]["/profile/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.validate(APIClient().get("/profile/").json(), {**answer, "components": schema["components"]})


def test_a_users_profile_lists_sorted_proposals(portal):
    portal.add_user("jdoe", proposals=["LCO2025A-001", "KEY2020B-003", "LCO2022B-014"], is_staff=True)
    assert logged_in_client("jdoe").get("/profile/").json() == {
        "username": "jdoe",
        "profile": {"proposals": ["KEY2020B-003", "LCO2022B-014", "LCO2025A-001"]},
        "is_staff": True,
    }


def test_a_local_users_profile(make_user):
    user = make_user("local", proposals=["B", "A"])
    assert client_with("Token", Token.objects.get(user=user).key).get("/profile/").json() == {
        "username": "local",
        "profile": {"proposals": ["A", "B"]},
        "is_staff": False,
    }


def test_an_invalid_credential_on_profile_is_still_a_401():
    assert client_with("Token", "nope").get("/profile/").status_code == 401


# --- /health/ ------------------------------------------------------------------------------------------------------


def test_health_reports_the_portal_from_the_circuit_without_calling_it(portal):
    response = APIClient().get("/health/")
    assert response.json()["checks"]["portal"] == {"state": "ok"}
    portal.fail_status = 500
    for _ in range(5):
        token_login("jdoe", "x")
    portal.reset_counts()
    response = APIClient().get("/health/", HTTP_AUTHORIZATION="Token nope")
    assert response.status_code == 200  # the portal never fails the check; a bad header is not a 401 here
    assert response.json()["checks"]["portal"] == {"state": "unavailable"}
    assert portal.count() == 0


def test_health_reports_a_disabled_portal(settings):
    settings.OAUTH_PROFILE_URL = ""
    assert APIClient().get("/health/").json()["checks"]["portal"] == {"state": "disabled"}


# --- OpenAPI -------------------------------------------------------------------------------------------------------


def test_the_schema_documents_the_endpoints_and_the_schemes():
    response = APIClient().get("/openapi/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = response.json()
    for path in ("/api-token-auth/", "/revoke_token/", "/profile/", "/authprofile/addupdateuser/"):
        assert path in schema["paths"], path
    schemes = schema["components"]["securitySchemes"]
    assert schemes["tokenAuth"]["name"] == "Authorization" and "Token" in schemes["tokenAuth"]["description"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An observation-portal OAuth access token, validated at the portal",
    }
    assert schemes["cookieAuth"]["in"] == "cookie"
    assert schemes["serverKey"]["name"] == "Authorization"
    push = schema["paths"]["/authprofile/addupdateuser/"]["post"]
    assert push["security"] == [{"serverKey": []}]
    frames = schema["paths"]["/frames/"]["get"]
    assert {name for entry in frames["security"] for name in entry} >= {"tokenAuth", "cookieAuth", "bearerAuth"}
