"""factory_boy factories of downtimes."""

import datetime

import factory

from downtimes.models import Downtime


class DowntimeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Downtime

    start = factory.Sequence(lambda n: datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(days=n))
    end = factory.LazyAttribute(lambda d: d.start + datetime.timedelta(hours=2))
    site = "tst"
    enclosure = "doma"
    telescope = "1m0a"
    instrument_type = ""
    reason = "Maintenance"
