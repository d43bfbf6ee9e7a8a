"""Exports of downtimes: CSV (the JSON values, safe to open in a spreadsheet) and an iCalendar feed (RFC 5545)."""

import csv
import datetime
import io

from django.conf import settings
from django.http.request import split_domain_port
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar, Event
from rest_framework.renderers import BaseRenderer

from downtimes.models import Downtime

CSV_COLUMNS = ("id", "start", "end", "site", "enclosure", "telescope", "instrument_type", "reason")
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection); a leading ' keeps it text.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
SUMMARY_REASON_CHARS = 200


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _set_header(renderer_context, name: str, value: str) -> None:
    response = (renderer_context or {}).get("response")
    if response is not None:
        response[name] = value


class CSVRenderer(BaseRenderer):
    """`text/csv`: a header row, then one row per downtime with the values of the JSON object, RFC 4180 (CRLF)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        rows = [data] if isinstance(data, dict) else list(data or [])
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        _set_header(renderer_context, "Content-Disposition", f'attachment; filename="downtimes-{stamp}.csv"')
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow([_cell(row.get(column)) for column in CSV_COLUMNS])
        return buffer.getvalue().encode("utf-8")


def _summary(downtime: Downtime) -> str:
    summary = f"Downtime {downtime.site}.{downtime.enclosure}.{downtime.telescope}"
    if downtime.instrument_type:
        summary += f" ({downtime.instrument_type})"
    first_line = downtime.reason.strip().splitlines()[0].strip() if downtime.reason.strip() else ""
    if first_line:
        summary += f": {first_line[:SUMMARY_REASON_CHARS]}"
    return summary


class ICalendarRenderer(BaseRenderer):
    """`text/calendar`: one VEVENT per downtime, with a UID that stays the same across edits, so calendars that
    subscribe update and remove events instead of duplicating them. Expects Downtime instances from the view."""

    media_type = "text/calendar"
    format = "ics"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        request = (renderer_context or {}).get("request")
        downtimes = [data] if isinstance(data, Downtime) else list(data or [])
        _set_header(renderer_context, "Content-Disposition", 'inline; filename="downtimes.ics"')
        host = split_domain_port(request.get_host())[0] if request is not None else "localhost"
        calendar = Calendar()
        calendar.add("version", "2.0")
        calendar.add("prodid", f"-//{settings.NAVBAR_TITLE_TEXT}//Downtimes//EN")
        calendar.add("calscale", "GREGORIAN")
        calendar.add("method", "PUBLISH")
        calendar.add("x-wr-calname", "Telescope downtimes")
        calendar.add("x-wr-timezone", "UTC")
        calendar.add("refresh-interval", datetime.timedelta(hours=1), parameters={"VALUE": "DURATION"})
        for downtime in downtimes:
            calendar.add_component(self._event(downtime, request, host))
        return calendar.to_ical()

    def _event(self, downtime: Downtime, request, host: str) -> Event:
        path = reverse("downtime-detail", kwargs={"pk": downtime.pk})
        url = request.build_absolute_uri(path) if request is not None else path
        resource = f"{downtime.site}.{downtime.enclosure}.{downtime.telescope}"
        instrument = downtime.instrument_type or "all instruments"
        event = Event()
        event.add("uid", f"downtime-{downtime.pk}@{host}")
        event.add("dtstart", downtime.start.astimezone(datetime.UTC))
        event.add("dtend", downtime.end.astimezone(datetime.UTC))
        event.add("dtstamp", downtime.modified.astimezone(datetime.UTC))
        event.add("created", downtime.created.astimezone(datetime.UTC))
        event.add("last-modified", downtime.modified.astimezone(datetime.UTC))
        event.add("summary", _summary(downtime))
        description = [downtime.reason] if downtime.reason else []
        event.add("description", "\n".join([*description, f"Instrument: {instrument}", url]))
        event.add("location", resource)
        event.add("url", url)
        event.add("status", "CONFIRMED")
        event.add("transp", "OPAQUE")
        return event
