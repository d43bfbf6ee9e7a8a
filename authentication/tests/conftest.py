"""Fixtures of the authentication tests: a fake observation portal on loopback and the archive configured for it."""

import json

import pytest
from rest_framework.test import APIClient

from archive.cachesettings import memcached_caches
from authentication.tests.fakeportal import FakePortal

SERVER_KEY = "portal-server-key-0123456789"


@pytest.fixture
def portal(settings):
    """A fake portal of its own for the test, and the archive pointed at it (login, bearer, refresh and push on)."""
    fake = FakePortal()
    settings.OAUTH_TOKEN_URL = fake.token_url
    settings.OAUTH_PROFILE_URL = fake.profile_url
    settings.OAUTH_CLIENT_ID = fake.client_id
    settings.OAUTH_CLIENT_SECRET = fake.client_secret
    settings.OAUTH_SERVER_KEY = SERVER_KEY
    settings.OAUTH_REQUESTS_TIMEOUT_SECONDS = 2
    yield fake
    fake.close()


def token_login(username: str, password: str, client: APIClient | None = None):
    return (client or APIClient()).post("/api-token-auth/", {"username": username, "password": password})


def client_with(scheme: str, credential: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {credential}")
    return client


def logged_in_client(username: str, password: str = "portal-pass-1") -> APIClient:
    """A client holding the archive token that /api-token-auth/ returned for these portal credentials."""
    response = token_login(username, password)
    assert response.status_code == 200, response.content
    return client_with("Token", response.json()["token"])


def push(body, key: str | None = SERVER_KEY, content_type: str = "text/plain", client: APIClient | None = None):
    """The portal's user push: the profile as a raw string, without a JSON content type."""
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    headers = {"HTTP_AUTHORIZATION": f"Server {key}"} if key is not None else {}
    return (client or APIClient()).generic("POST", "/authprofile/addupdateuser/", raw, content_type, **headers)


@pytest.fixture
def memcached_cache(memcached_server, settings):
    """The project's production cache configuration, pointed at the real memcached, emptied for the test."""
    from django.core.cache import cache

    settings.CACHES = memcached_caches(memcached_server)
    cache.clear()
    yield cache
    cache.clear()
