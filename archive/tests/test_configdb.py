"""The configdb client against a fake configdb on loopback: sites, pages, cache, stale copy, back-off, failures."""

import logging
import time

import pytest
import time_machine

from archive import configdb as client
from archive.configdb import ConfigDBUnavailable
from conftest import configdb_site

TST = configdb_site("tst", {"doma": {"1m0a": ["1M0-SCICAM-SINISTRO"], "2m0a": ["2M0-SCICAM-MUSCAT"]}})
LCO = configdb_site("lco", {"doma": {"1m0a": ["1M0-SCICAM-SINISTRO"]}})


def test_sites_reads_codes_down_to_instrument_types(configdb):
    configdb.sites = [TST, LCO]
    assert client.sites() == [
        {
            "code": "tst",
            "enclosures": [
                {
                    "code": "doma",
                    "telescopes": [
                        {"code": "1m0a", "instrument_types": ["1M0-SCICAM-SINISTRO"]},
                        {"code": "2m0a", "instrument_types": ["2M0-SCICAM-MUSCAT"]},
                    ],
                }
            ],
        },
        {
            "code": "lco",
            "enclosures": [
                {"code": "doma", "telescopes": [{"code": "1m0a", "instrument_types": ["1M0-SCICAM-SINISTRO"]}]}
            ],
        },
    ]
    assert configdb.requests == ["/sites/"]


def test_sites_follows_next_through_every_page(configdb):
    configdb.sites = [configdb_site(f"s{n:02d}", {"doma": {"1m0a": []}}) for n in range(7)]
    configdb.page_size = 3
    assert [site["code"] for site in client.sites()] == [f"s{n:02d}" for n in range(7)]
    assert configdb.count() == 3


def test_more_than_twenty_pages_is_a_failure(configdb):
    configdb.sites = [configdb_site(f"s{n:02d}", {}) for n in range(21)]
    configdb.page_size = 1
    with pytest.raises(ConfigDBUnavailable):
        client.sites()
    assert configdb.count() == 20


def test_one_fetch_serves_many_calls_and_an_empty_list_is_cached(configdb):
    for _ in range(5):
        assert client.sites() == []
    assert configdb.count() == 1


def test_nothing_is_asked_when_configdb_is_not_configured(configdb, settings):
    settings.CONFIGDB_URL = ""
    assert client.sites() is None
    assert configdb.count() == 0


def test_cached_only_never_asks(configdb):
    configdb.sites = [LCO]
    assert client.sites(cached_only=True) is None
    assert configdb.count() == 0
    client.sites()
    assert client.sites(cached_only=True)[0]["code"] == "lco"
    assert configdb.count() == 1


def test_fresh_copy_expires_after_the_cache_ttl(configdb, settings):
    settings.CONFIGDB_CACHE_SECONDS = 900
    configdb.sites = [LCO]
    with time_machine.travel(1_900_000_000, tick=False) as traveller:
        assert [site["code"] for site in client.sites()] == ["lco"]
        configdb.sites = [LCO, TST]
        traveller.shift(899)
        assert [site["code"] for site in client.sites()] == ["lco"]
        traveller.shift(2)
        assert [site["code"] for site in client.sites()] == ["lco", "tst"]
    assert configdb.count() == 2


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500},
        {"status": 404},
        {"status": 200, "body": b"<html>not json"},
        {"status": 200, "body": b'{"count": 1}'},
        {"status": 200, "body": b'{"results": {"code": "lco"}}'},
        {"status": 200, "body": b'{"results": [{"name": "no code"}]}'},
        {"status": 200, "body": b"[1, 2]"},
    ],
    ids=["500", "404", "not-json", "no-results", "results-not-list", "site-without-code", "not-an-object"],
)
def test_failures_without_a_copy_raise_unavailable_with_retry_after(configdb, failure):
    configdb.status = failure["status"]
    configdb.body = failure.get("body")
    with pytest.raises(ConfigDBUnavailable) as raised:
        client.sites()
    assert raised.value.status_code == 503
    assert raised.value.retry_after == 60


def test_refused_connection_is_a_failure(configdb, settings):
    settings.CONFIGDB_URL = configdb.refused_url()
    with pytest.raises(ConfigDBUnavailable):
        client.sites()


def test_a_hanging_configdb_times_out(configdb, settings):
    settings.CONFIGDB_TIMEOUT_SECONDS = 1
    configdb.hang_seconds = 5
    started = time.monotonic()
    with pytest.raises(ConfigDBUnavailable):
        client.sites()
    assert time.monotonic() - started < 3


def test_stale_copy_serves_an_outage_with_one_warning_and_a_back_off(configdb, settings, caplog):
    settings.CONFIGDB_CACHE_SECONDS = 60
    settings.CONFIGDB_STALE_SECONDS = 3600
    configdb.sites = [LCO]
    with time_machine.travel(1_900_000_000, tick=False) as traveller:
        client.sites()
        traveller.shift(61)
        configdb.status = 503
        caplog.set_level(logging.WARNING, logger="archive.configdb")
        for _ in range(10):
            assert [site["code"] for site in client.sites()] == ["lco"]
        assert configdb.count() == 2  # the first fetch and one failed attempt, then 60 s without asking
        assert len([r for r in caplog.records if r.name == "archive.configdb"]) == 1
        traveller.shift(59)
        client.sites()
        assert configdb.count() == 2
        traveller.shift(2)
        configdb.status = 200
        configdb.sites = [LCO, TST]
        assert [site["code"] for site in client.sites()] == ["lco", "tst"]
        assert configdb.count() == 3


def test_stale_copy_expires(configdb, settings):
    settings.CONFIGDB_CACHE_SECONDS = 60
    settings.CONFIGDB_STALE_SECONDS = 120
    configdb.sites = [LCO]
    with time_machine.travel(1_900_000_000, tick=False) as traveller:
        client.sites()
        configdb.status = 500
        traveller.shift(121)
        with pytest.raises(ConfigDBUnavailable):
            client.sites()


def test_back_off_also_holds_when_nothing_is_cached(configdb):
    configdb.status = 500
    with time_machine.travel(1_900_000_000, tick=False) as traveller:
        for _ in range(3):
            with pytest.raises(ConfigDBUnavailable):
                client.sites()
        assert configdb.count() == 1
        traveller.shift(61)
        configdb.status = 200
        assert client.sites() == []
        assert configdb.count() == 2


def test_configuration_types_still_fall_back_and_share_the_back_off(configdb, settings):
    settings.CONFIGURATION_TYPES = ["EXPOSE", "BIAS"]
    configdb.status = 500
    assert client.configuration_types() == frozenset({"EXPOSE", "BIAS"})
    assert client.configuration_types() == frozenset({"EXPOSE", "BIAS"})
    assert configdb.count("/instruments/") == 1
