"""Value helpers shared by ingest, query filters, representations and FITS reading: one rule each for longitudes,
datetimes, days and integers. A leaf module that imports nothing of the project."""

import datetime
import re
from decimal import Decimal, InvalidOperation

from django.utils.dateparse import parse_datetime

YYYYMMDD_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def normalise_longitude(ra: float) -> float:
    """RA in degrees, in [-180, 360], as the longitude footprints are stored with: RA over 180 less 360.

    RA 180 stays 180 (the stored range is [-180, 180]); values already in range are returned as given, untouched by
    floating-point arithmetic.
    """
    return ra - 360.0 if ra > 180.0 else ra


def parse_datetime_utc(value: object) -> datetime.datetime:
    """An ISO 8601 date/time as Django reads it (`T` or a space, optional seconds, fraction and zone) or a bare
    date (midnight); naive values are UTC. ValueError for anything else, OverflowError at the calendar's edges."""
    if not isinstance(value, str):
        raise ValueError("not a string")
    text = value.strip()
    parsed = parse_datetime(text)
    if parsed is None:
        parsed = datetime.datetime.combine(datetime.date.fromisoformat(text), datetime.time())
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=datetime.UTC)
    return parsed.astimezone(datetime.UTC)


def parse_day(value: object) -> datetime.date:
    """`YYYY-MM-DD` or `YYYYMMDD`."""
    if not isinstance(value, str):
        raise ValueError("not a string")
    value = value.strip()
    match = YYYYMMDD_RE.match(value)
    if match:
        return datetime.date(int(match[1]), int(match[2]), int(match[3]))
    return datetime.date.fromisoformat(value)


def parse_integer(value: object) -> int:
    """An integer, or a numeric string such as "0000296263" or "296263.0"."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("not a whole number")
        return int(value)
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("not a number") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise ValueError("not a whole number")
        return int(number)
    raise ValueError("not a number")


def format_datetime(value: datetime.datetime | None) -> str | None:
    """ISO 8601 UTC with `Z`; microseconds only when non-zero."""
    if value is None:
        return None
    return value.astimezone(datetime.UTC).replace(tzinfo=None).isoformat() + "Z"


def format_millis(value: datetime.datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ`, the aggregates' `generated_at`."""
    value = value.astimezone(datetime.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def format_date(value: datetime.date | None) -> str | None:
    return value.isoformat() if value is not None else None
