"""The Downtime model: its string form, the database's constraints and indexes, the QuerySet methods."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from downtimes.models import Downtime
from downtimes.tests.conftest import SINISTRO, utc
from downtimes.tests.factories import DowntimeFactory

pytestmark = pytest.mark.django_db


def test_str_names_the_resource_and_the_utc_interval():
    downtime = DowntimeFactory.build(site="lco", start=utc(2030, 1, 1), end=utc(2030, 1, 1, 2))
    assert str(downtime) == "lco.doma.1m0a 2030-01-01T00:00:00Z\u20132030-01-01T02:00:00Z"
    downtime.instrument_type = SINISTRO
    assert str(downtime) == f"lco.doma.1m0a/{SINISTRO} 2030-01-01T00:00:00Z\u20132030-01-01T02:00:00Z"


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"start": utc(2030, 1, 1, 2), "end": utc(2030, 1, 1, 2)}, "downtime_end_after_start"),
        ({"start": utc(2030, 1, 1, 3), "end": utc(2030, 1, 1, 2)}, "downtime_end_after_start"),
        ({"site": ""}, "downtime_codes_not_blank"),
        ({"enclosure": ""}, "downtime_codes_not_blank"),
        ({"telescope": ""}, "downtime_codes_not_blank"),
    ],
)
def test_the_database_refuses_what_the_constraints_forbid(fields, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        DowntimeFactory(**fields)


def test_overlapping_and_duplicate_downtimes_stay_allowed():
    DowntimeFactory(start=utc(2030, 1, 1), end=utc(2030, 1, 1, 2))
    DowntimeFactory(start=utc(2030, 1, 1), end=utc(2030, 1, 1, 2))
    DowntimeFactory(start=utc(2030, 1, 1, 1), end=utc(2030, 1, 1, 3))
    assert Downtime.objects.count() == 3


def test_model_validation_uses_the_apis_message():
    downtime = DowntimeFactory.build(start=utc(2030, 1, 1, 2), end=utc(2030, 1, 1, 1))
    with pytest.raises(ValidationError, match="End time must be after start time"):
        downtime.full_clean()


def test_overlapping_and_active_at_are_half_open():
    a = DowntimeFactory(start=utc(2030, 1, 1, 0), end=utc(2030, 1, 1, 2))
    b = DowntimeFactory(start=utc(2030, 1, 1, 2), end=utc(2030, 1, 1, 4))
    assert list(Downtime.objects.overlapping(utc(2030, 1, 1, 1), utc(2030, 1, 1, 2))) == [a]
    assert list(Downtime.objects.overlapping(utc(2030, 1, 1, 2), None)) == [b]
    assert list(Downtime.objects.overlapping(None, utc(2030, 1, 1, 2))) == [a]
    assert list(Downtime.objects.active_at(utc(2030, 1, 1, 2))) == [b]
    assert list(Downtime.objects.not_active_at(utc(2030, 1, 1, 2))) == [a]


def test_the_indexes_exist_and_none_is_on_reason():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Downtime._meta.db_table)
    indexes = {tuple(c["columns"]) for c in constraints.values() if c["index"] and not c["primary_key"]}
    for columns in (("site", "enclosure", "telescope", "start"), ("start",), ("end",), ("created", "id")):
        assert columns in indexes, columns
    assert not any("reason" in columns for columns in indexes)
