"""configdb is never asked at start-up: not by imports, system checks or migrate; W001 says when it is not set."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from downtimes.checks import configdb_configured

ROOT = Path(__file__).resolve().parents[2]


def test_w001_warns_while_configdb_is_not_set(settings):
    settings.CONFIGDB_URL = ""
    settings.DEBUG = True
    (warning,) = configdb_configured(None)
    assert warning.id == "downtimes.W001"
    assert "checked for shape only" in warning.msg
    settings.CONFIGDB_URL = "http://configdb.example.org"
    assert configdb_configured(None) == []


def test_system_checks_make_no_request(configdb):
    call_command("check")
    call_command("check", "--deploy")
    assert configdb.count() == 0


def test_imports_check_and_migrate_make_no_request(configdb, django_db_setup):
    """A fresh process (so import time counts) with CONFIGDB_URL pointing at the fake configdb."""
    script = textwrap.dedent(
        """
        import django
        django.setup()
        from django.core.management import call_command
        from django.urls import resolve
        import archive.urls, downtimes.admin, downtimes.views
        resolve("/downtimes/api/")
        call_command("check", verbosity=0)
        call_command("migrate", verbosity=0)
        """
    )
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DJANGO_SETTINGS_MODULE="archive.settings",
        SECRET_KEY="import-test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        DEBUG="false",
        CONFIGDB_URL=configdb.url,
        DB_NAME=connection.settings_dict["NAME"],  # the test database, already migrated: migrate is a no-op
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert configdb.count() == 0, configdb.requests


@pytest.mark.django_db
def test_the_api_schema_documents_the_downtime_operations(api_client, configdb):
    schema = api_client.get("/openapi/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    assert set(paths["/downtimes/api/"]) == {"get", "post"}
    assert set(paths["/downtimes/api/{id}/"]) == {"get", "put", "patch", "delete"}
    assert "get" in paths["/downtimes/api/history/"]
    documented = {parameter["name"] for parameter in paths["/downtimes/api/"]["get"]["parameters"]}
    for name in ("starts_after", "starts_before", "ends_after", "ends_before", "site", "enclosure", "telescope",
                 "instrument_type", "reason", "reason_exact", "created_after", "created_before", "modified_after",
                 "modified_before", "window_start", "window_end", "active_at", "active_now", "order", "ordering",
                 "limit", "offset", "format"):  # fmt: skip
        assert name in documented, name
    content = paths["/downtimes/api/"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/csv", "text/calendar"} <= set(content)
    assert configdb.count() == 0
