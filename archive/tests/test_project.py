"""Project-wide endpoints: health, OpenAPI and Redoc, the branded browsable API, token login, settings, and the
deployment checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from archive.checks import proxies_configured, shared_cache_configured
from archive.env import env_bool, env_int, env_list

pytestmark = pytest.mark.django_db


def test_openapi_schema_lists_the_wire_paths(api_client):
    response = api_client.get("/openapi/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/frames/",
        "/frames/{id}/",
        "/frames/{id}/headers/",
        "/frames/{id}/related/",
        "/frames/aggregate/",
        "/versions/",
        "/thumbnails/",
    ):
        assert path in paths, path


def test_redoc_page(api_client):
    response = api_client.get("/redoc/")
    assert response.status_code == 200
    assert b"redoc" in response.content.lower()


def test_browsable_api_is_branded(api_client, settings):
    settings.NAVBAR_TITLE_TEXT = "Example Observatory Archive"
    settings.NAVBAR_TITLE_URL = "https://archive.example.org/"
    response = api_client.get("/frames/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    content = response.content.decode()
    assert "Example Observatory Archive" in content
    assert 'href="https://archive.example.org/"' in content


def test_api_token_auth_returns_the_users_token(api_client, superuser):
    from rest_framework.authtoken.models import Token

    response = api_client.post("/api-token-auth/", {"username": "archive-admin", "password": "admin-pass-123"})
    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=superuser).key}
    response = api_client.post("/api-token-auth/", {"username": "archive-admin", "password": "wrong"})
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}


def test_every_user_gets_a_profile_and_a_token(django_user_model):
    from rest_framework.authtoken.models import Token

    user = django_user_model.objects.create_user(username="someone")
    assert user.profile.proposals == []
    assert Token.objects.filter(user=user).exists()


def test_env_readers(monkeypatch):
    monkeypatch.setenv("X_BOOL", "TRUE")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_LIST", " ,a, b ,c,")
    assert env_bool("X_BOOL", False) is True
    assert env_int("X_INT", 0) == 42
    assert env_list("X_LIST") == ["a", "b", "c"]
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured):
        env_bool("X_BOOL", False)
    monkeypatch.setenv("X_INT", "many")
    with pytest.raises(ImproperlyConfigured):
        env_int("X_INT", 0)


def _manage(*args, env_overrides: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE")}
    env.update(env_overrides)
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, str(root / "manage.py"), *args], env=env, capture_output=True, text=True, timeout=120
    )


PRODUCTION_ENV = {
    "SECRET_KEY": "p" * 20 + "-production-secret-key-with-enough-entropy-7f3a9c1e",
    "HTTPS_ONLY": "true",
    "ALLOWED_HOSTS": "archive.example.org",
    "NUM_PROXIES": "1",
    "CACHE_LOC": "127.0.0.1:11211",
}


def test_check_deploy_passes_with_production_values():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env_overrides=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("missing", "check_id"), [("NUM_PROXIES", "archive.W001"), ("CACHE_LOC", "archive.W002")])
def test_check_deploy_warns_without_proxies_or_a_shared_cache(missing, check_id):
    env = {name: value for name, value in PRODUCTION_ENV.items() if name != missing}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env_overrides={**env, missing: ""})
    assert result.returncode != 0
    assert check_id in result.stderr and missing in result.stderr
    other = {"archive.W001", "archive.W002"} - {check_id}
    assert not any(name in result.stderr for name in other)


def test_the_deployment_warnings_stay_quiet_in_debug(settings):
    settings.NUM_PROXIES, settings.CACHE_LOC = 0, ""
    settings.DEBUG = True
    assert proxies_configured(None) == [] and shared_cache_configured(None) == []
    settings.DEBUG = False
    assert [w.id for w in proxies_configured(None) + shared_cache_configured(None)] == ["archive.W001", "archive.W002"]


def test_a_missing_secret_key_stops_start_up_when_debug_is_off():
    result = _manage("check", env_overrides={})
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off." in result.stderr


def test_ensure_local_superuser_is_idempotent_and_prints_the_token(django_user_model, capsys):
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    call_command("ensure_local_superuser", "--url", "http://127.0.0.1:8020")
    first = capsys.readouterr().out
    call_command("ensure_local_superuser", "--url", "http://127.0.0.1:8020")
    second = capsys.readouterr().out
    admin = django_user_model.objects.get(username="admin")
    token = Token.objects.get(user=admin).key
    assert admin.is_superuser and django_user_model.objects.filter(is_superuser=True).count() == 1
    assert "password" in first and "password" not in second  # the password is shown once, when it is made
    assert f"Token {token}' http://127.0.0.1:8020/frames/" in second
