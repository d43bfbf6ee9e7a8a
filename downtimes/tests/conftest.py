"""Fixtures of the downtimes tests: the reference's configdb topology on the fake configdb, and the A–D rows."""

import datetime

import pytest
from django.utils import timezone

from conftest import configdb_site
from downtimes.tests.factories import DowntimeFactory

SINISTRO = "1M0-SCICAM-SINISTRO"
MUSCAT = "2M0-SCICAM-MUSCAT"

# The reference's test topology.
REFERENCE_SITES = [
    configdb_site(
        "tst",
        {
            "doma": {"1m0a": [SINISTRO], "2m0a": [MUSCAT]},
            "domb": {"1m0a": [SINISTRO], "2m0a": [MUSCAT]},
            "domc": {"1m0a": [SINISTRO]},
            "domd": {"1m0a": [SINISTRO]},
        },
    ),
    configdb_site("lco", {"doma": {"1m0a": [SINISTRO]}}),
]


@pytest.fixture
def topology(configdb):
    """The fake configdb serving the reference's sites; CONFIGDB_URL points at it."""
    configdb.sites = REFERENCE_SITES
    return configdb


@pytest.fixture
def cached_topology(topology):
    """The reference's sites fetched and cached, as after a write or a page view: filters know configdb's codes."""
    from downtimes.selectors import downtime_topology

    downtime_topology()
    return topology


def utc(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=datetime.UTC)


@pytest.fixture
def abcd(db):
    """Four downtimes to check the downtime service's own behaviour against, created in the order A, B, C, D."""
    now = timezone.now().replace(microsecond=0)
    return {
        "A": DowntimeFactory(start=utc(2030, 1, 1), end=utc(2030, 1, 1, 2), reason="Maintenance"),
        "B": DowntimeFactory(
            start=utc(2030, 1, 2),
            end=utc(2030, 1, 2, 3),
            enclosure="domb",
            telescope="2m0a",
            instrument_type=MUSCAT,
            reason="Education use",
        ),
        "C": DowntimeFactory(
            start=utc(2029, 12, 31), end=utc(2029, 12, 31, 4), site="lco", reason="maintenance weekly"
        ),
        "D": DowntimeFactory(
            start=now - datetime.timedelta(days=10), end=now - datetime.timedelta(days=9), site="lco", reason="old"
        ),
    }
