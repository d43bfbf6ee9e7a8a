"""`manage.py create_downtime`: one downtime, validated and audited as the API does it."""

import datetime
import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from archive.configdb import ConfigDBUnavailable
from downtimes import services
from downtimes.models import Downtime, DowntimeEvent, wire_datetime
from downtimes.serializers import DowntimeSerializer

EXIT_INVALID = 1
EXIT_CONFIGDB_UNAVAILABLE = 3  # argparse's usage errors exit 2
DEFAULT_DURATION = datetime.timedelta(hours=24)


class InvalidInput(Exception):
    """An input the API would refuse; the message names the value."""


class Command(BaseCommand):
    help = (
        "Create one downtime, validated as the API validates it (codes against configdb when CONFIGDB_URL is set). "
        "Times are ISO 8601, UTC unless they carry an offset. Exit status: 0 created, 1 invalid input, 2 usage "
        "error, 3 configdb unreachable with nothing cached."
    )

    def add_arguments(self, parser):
        parser.add_argument("-s", "--site", required=True, help="Site code, e.g. lco")
        parser.add_argument("-e", "--enclosure", required=True, help="Enclosure code, e.g. doma")
        parser.add_argument("-t", "--telescope", required=True, help="Telescope code, e.g. 1m0a")
        parser.add_argument(
            "-i",
            "--instrument_type",
            "--instrument-type",
            dest="instrument_type",
            default="",
            help="Instrument type code; empty (the default): all instruments on the telescope",
        )
        parser.add_argument("-r", "--reason", default="Scheduled Maintenance", help="Reason (default: %(default)s)")
        parser.add_argument("--start", help="Start time, ISO 8601 (default: now, when the command runs)")
        length = parser.add_mutually_exclusive_group()
        length.add_argument("--end", help="End time, ISO 8601 (default: start + 24 hours)")
        length.add_argument("--duration-hours", type=float, help="End = start (after the offset) + this many hours")
        parser.add_argument(
            "--offset-hours",
            type=float,
            default=0.0,
            help="Hours added to the start, given or now; may be negative (default: 0)",
        )
        parser.add_argument("--user", help="Username recorded as the creator (must exist)")
        parser.add_argument("--dry-run", action="store_true", help="Validate and print, create nothing")
        parser.add_argument("--json", action="store_true", help="Print the downtime as the API shows it")

    def handle(self, *args, **options):
        try:
            self._run(options)
        except InvalidInput as exc:
            for line in str(exc).splitlines():
                self.stderr.write(f"Error: {line}")
            raise SystemExit(EXIT_INVALID) from None
        except ConfigDBUnavailable as exc:
            self.stderr.write(f"Error: {exc.detail}")
            raise SystemExit(EXIT_CONFIGDB_UNAVAILABLE) from None

    def _time(self, name: str, value: str) -> datetime.datetime:
        try:
            return DowntimeSerializer().fields[name].run_validation(value)
        except ValidationError as exc:
            raise InvalidInput(f"{name}: {exc.detail[0]} Got {value!r}.") from None

    def _data(self, options) -> dict:
        start = self._time("start", options["start"]) if options["start"] else timezone.now()
        start += datetime.timedelta(hours=options["offset_hours"])
        if options["end"]:
            end = self._time("end", options["end"])
        elif options["duration_hours"] is not None:
            if options["duration_hours"] <= 0:
                raise InvalidInput(f"--duration-hours must be greater than 0: {options['duration_hours']:g}")
            end = start + datetime.timedelta(hours=options["duration_hours"])
        else:
            end = start + DEFAULT_DURATION
        return {
            "start": start,
            "end": end,
            "site": options["site"],
            "enclosure": options["enclosure"],
            "telescope": options["telescope"],
            "instrument_type": options["instrument_type"],
            "reason": options["reason"].strip(),
        }

    def _user(self, username: str | None):
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise InvalidInput(f"unknown user: {username}")
        return user

    def _message(self, exc: services.DowntimeInvalid, data: dict) -> str:
        resource = f"{data['site']}.{data['enclosure']}.{data['telescope']}"
        if data["instrument_type"]:
            resource += f"/{data['instrument_type']}"
        lines = []
        for field, messages in exc.detail.items():
            for message in messages:
                if message == services.ORDER_MESSAGE:
                    lines.append(f"{message}: {wire_datetime(data['start'])} to {wire_datetime(data['end'])}")
                elif message == services.COMBINATION_MESSAGE:
                    lines.append(f"{message}: {resource}")
                else:
                    lines.append(f"{field}: {message}")
        return "\n".join(lines)

    def _run(self, options) -> None:
        data = self._data(options)
        user = self._user(options["user"])
        try:
            if options["dry_run"]:
                values = services.downtime_validate(data=data)
                downtime = Downtime(**values)
            else:
                downtime = services.downtime_create(data=data, user=user, via=DowntimeEvent.Via.COMMAND)
        except services.DowntimeInvalid as exc:
            raise InvalidInput(self._message(exc, data)) from None
        if options["json"]:
            self.stdout.write(json.dumps(DowntimeSerializer(downtime).data))
            return
        instruments = downtime.instrument_type or "all instruments"
        what = "Would create downtime" if options["dry_run"] else f"Created downtime {downtime.pk}"
        self.stdout.write(
            f"{what} on {downtime.site}.{downtime.enclosure}.{downtime.telescope} ({instruments}) "
            f"from {wire_datetime(downtime.start)} to {wire_datetime(downtime.end)}"
        )
