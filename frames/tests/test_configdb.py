"""Configuration types from configdb for ingest and filters: cached, a stale copy in outages, the fallback list
when configdb was never reached. Frames never need configdb enough to answer 503."""

import json

import pytest

from frames.models import Frame
from frames.tests.factories import FrameFactory, ingest_body

pytestmark = pytest.mark.django_db


def instrument(*types: str) -> dict:
    """An instrument as configdb's /instruments/ lists it."""
    return {
        "code": "kb05",
        "state": "SCHEDULABLE",
        "instrument_type": {"code": "1M0-SCICAM-SINISTRO", "configuration_types": [{"code": t} for t in types]},
    }


def post(client, **overrides):
    return client.post("/frames/", json.dumps(ingest_body(**overrides)), content_type="application/json")


def test_configdb_types_decide_and_are_cached(superuser_client, configdb, settings):
    configdb.instruments = [instrument("EXPOSE", "NEWTYPE")]
    assert post(superuser_client, basename="a", configuration_type="NEWTYPE").status_code == 201
    response = post(superuser_client, basename="b", configuration_type="DARK")  # in the fallback list, not configdb
    assert response.status_code == 400
    assert response.json() == {"configuration_type": ['"DARK" is not a valid choice.']}
    post(superuser_client, basename="c", configuration_type="EXPOSE")
    assert configdb.count("/instruments/") == 1  # fetched once, then from the cache


def test_an_outage_serves_the_last_good_copy(superuser_client, configdb, settings):
    from django.core.cache import cache

    configdb.instruments = [instrument("EXPOSE", "NEWTYPE")]
    assert post(superuser_client, basename="a", configuration_type="NEWTYPE").status_code == 201
    cache.delete("configdb:configuration_types:fresh")  # the fresh copy has expired
    configdb.status = 500
    assert post(superuser_client, basename="b", configuration_type="NEWTYPE").status_code == 201
    assert Frame.objects.filter(basename="b").exists()


@pytest.mark.parametrize("failure", ["status", "refused", "malformed"])
def test_configdb_never_reached_falls_back_to_the_settings_list(superuser_client, configdb, settings, failure):
    if failure == "status":
        configdb.status = 503
    elif failure == "refused":
        settings.CONFIGDB_URL = configdb.refused_url()
    else:
        configdb.body = b"{not json"
    settings.CONFIGURATION_TYPES = ["EXPOSE", "BIAS"]
    assert post(superuser_client, basename="a", configuration_type="EXPOSE").status_code == 201
    response = post(superuser_client, basename="b", configuration_type="NEWTYPE")
    assert response.status_code == 400  # a clear refusal by the fallback list, never a 503 or a 500


def test_filters_validate_against_configdb_and_ignore_its_outages(api_client, configdb):
    FrameFactory(configuration_type="NEWTYPE")
    configdb.instruments = [instrument("EXPOSE", "NEWTYPE")]
    assert api_client.get("/frames/", {"include_configuration_type": "NEWTYPE"}).json()["count"] == 1
    configdb.status = 500
    from django.core.cache import cache

    cache.clear()
    response = api_client.get("/frames/", {"include_configuration_type": "EXPOSE"})
    assert response.status_code == 200  # the fallback list answers the filter
