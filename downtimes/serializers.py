"""Shapes of the downtimes API: the 8-key downtime object the scheduler and the portal read, and audit events."""

import datetime
from collections.abc import Mapping

from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.settings import api_settings

from downtimes.models import WIRE_DATETIME_FORMAT, Downtime, DowntimeEvent, wire_datetime


class WireDateTimeField(serializers.DateTimeField):
    """Written by `wire_datetime` (four-digit years), read as DRF reads any time; a string (an audit snapshot's
    stored value) is passed through as DRF passes it."""

    def to_representation(self, value):
        if not value:
            return None
        return value if isinstance(value, str) else wire_datetime(value)


def wire_datetime_field(**kwargs) -> serializers.DateTimeField:
    # The format lives on the field, after conversion to UTC, not project-wide: the clients strptime exactly this.
    return WireDateTimeField(format=WIRE_DATETIME_FORMAT, default_timezone=datetime.UTC, **kwargs)


class DowntimeSerializer(serializers.ModelSerializer):
    """A downtime on the wire: exactly `id, start, end, site, enclosure, telescope, instrument_type, reason`.

    Input: ISO 8601 times (`T` or a space, optional seconds and fraction, `Z`, an offset, or naive = UTC; a date alone
    is midnight). Codes are taken verbatim (exact, case-sensitive). Unknown keys and a posted `id` are ignored.
    """

    start = wire_datetime_field(help_text="Start of the downtime, UTC, `%Y-%m-%dT%H:%M:%SZ`")
    end = wire_datetime_field(help_text="End of the downtime, UTC, `%Y-%m-%dT%H:%M:%SZ`; after the start")

    class Meta:
        model = Downtime
        fields = ("id", "start", "end", "site", "enclosure", "telescope", "instrument_type", "reason")
        read_only_fields = ("id",)
        extra_kwargs = {
            "site": {"trim_whitespace": False},
            "enclosure": {"trim_whitespace": False},
            "telescope": {"trim_whitespace": False},
            "instrument_type": {"trim_whitespace": False},
        }

    def parse(self) -> tuple[dict, dict]:
        """The values of the fields given and the field errors, both (DRF's is_valid keeps only the errors).

        The service checks the codes against configdb and reports those errors together with these.
        A field left out is skipped: POST's defaults and PUT's "keep the stored value" are the service's business.
        """
        data = self.initial_data
        if not isinstance(data, Mapping):
            message = f"Invalid data. Expected a dictionary, but got {type(data).__name__}."
            return {}, {api_settings.NON_FIELD_ERRORS_KEY: [message]}
        values, errors = {}, {}
        for field in self._writable_fields:
            try:
                value = field.run_validation(field.get_value(data))
            except serializers.ValidationError as exc:
                errors[field.field_name] = exc.detail
            except SkipField:
                continue
            else:
                values[field.source] = value
        return values, errors


class DowntimeEventSerializer(serializers.ModelSerializer):
    """One audit event of `history/`."""

    downtime = serializers.IntegerField(source="downtime_pk", help_text="Id of the downtime (it may be deleted)")
    at = wire_datetime_field(help_text="When it happened, UTC")
    user = serializers.CharField(source="username", help_text="The user's name at the time; empty when unknown")
    snapshot = DowntimeSerializer(read_only=True, help_text="The downtime after a create or update, before a delete")

    class Meta:
        model = DowntimeEvent
        fields = ("id", "downtime", "action", "at", "user", "via", "changes", "snapshot")
        read_only_fields = fields
