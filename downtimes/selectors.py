"""Reads of the downtimes app: configdb's topology as a value, code look-ups, the page's choices, the audit trail."""

import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.exceptions import APIException

from archive import configdb
from archive.configdb import ConfigDBUnavailable
from downtimes.models import CODE_FIELDS, Downtime, DowntimeEvent

logger = logging.getLogger(__name__)

# The default of the `topology` arguments: look it up (None is an answer, "no configdb").
_UNSET: Any = object()
# The time filters; the calendar's default window applies when none of them is given.
TIME_PARAMETERS = (
    "starts_after",
    "starts_before",
    "ends_after",
    "ends_before",
    "window_start",
    "window_end",
    "active_at",
    "active_now",
)


@dataclass(frozen=True)
class Topology:
    """What configdb says exists: the codes of each level, and every site → enclosure → telescope → instrument path."""

    sites: frozenset[str]
    enclosures: frozenset[str]
    telescopes: frozenset[str]
    instrument_types: frozenset[str]
    telescope_paths: frozenset[tuple[str, str, str]]
    instrument_paths: frozenset[tuple[str, str, str, str]]

    def codes(self, field: str) -> frozenset[str]:
        return {
            "site": self.sites,
            "enclosure": self.enclosures,
            "telescope": self.telescopes,
            "instrument_type": self.instrument_types,
        }[field]

    def has_combination(self, *, site: str, enclosure: str, telescope: str, instrument_type: str) -> bool:
        if (site, enclosure, telescope) not in self.telescope_paths:
            return False
        return not instrument_type or (site, enclosure, telescope, instrument_type) in self.instrument_paths

    @classmethod
    def from_sites(cls, sites: list[dict[str, Any]]) -> "Topology":
        telescope_paths: set[tuple[str, str, str]] = set()
        instrument_paths: set[tuple[str, str, str, str]] = set()
        for site in sites:
            for enclosure in site["enclosures"]:
                for telescope in enclosure["telescopes"]:
                    path = (site["code"], enclosure["code"], telescope["code"])
                    telescope_paths.add(path)
                    instrument_paths.update((*path, code) for code in telescope["instrument_types"])
        return cls(
            sites=frozenset(site["code"] for site in sites),
            enclosures=frozenset(enclosure["code"] for site in sites for enclosure in site["enclosures"]),
            telescopes=frozenset(path[2] for path in telescope_paths),
            instrument_types=frozenset(path[3] for path in instrument_paths),
            telescope_paths=frozenset(telescope_paths),
            instrument_paths=frozenset(instrument_paths),
        )


def downtime_topology(*, cached_only: bool = False) -> Topology | None:
    """configdb's sites as a Topology; None when CONFIGDB_URL is not set (or, with `cached_only`, nothing is cached).

    Raises ConfigDBUnavailable when configdb cannot answer and no copy is cached (never with `cached_only`).
    """
    sites = configdb.sites(cached_only=cached_only)
    return None if sites is None else Topology.from_sites(sites)


def downtime_read_topology() -> Topology | None:
    """The topology for reads, which never need configdb: None when it is not configured or cannot be had."""
    try:
        return downtime_topology()
    except ConfigDBUnavailable:
        return None


def downtime_code_known(*, field: str, value: str, topology: Topology | None = _UNSET) -> bool:
    """Whether a filter may name `value`: configdb knows it, or a stored downtime has it (retired codes stay
    searchable). The stored check is one EXISTS, made only for values configdb does not know.

    By default only an already cached topology is consulted: a filter never waits for configdb (the portal's look-up
    before a cancellation must not hang on a configdb outage); without one, the stored codes decide.
    """
    if field not in CODE_FIELDS:
        raise ValueError(f"not a code field: {field}")
    if topology is _UNSET:
        topology = downtime_topology(cached_only=True)
    if topology is not None and value in topology.codes(field):
        return True
    return Downtime.objects.filter(**{field: value}).exists()


def downtime_choice_options(*, topology: Topology | None = _UNSET) -> dict[str, list[str]]:
    """The page's filter choices: configdb's codes (when it can be had) and every stored code, sorted, per field."""
    if topology is _UNSET:
        topology = downtime_read_topology()
    options = {field: set(topology.codes(field)) if topology else set() for field in CODE_FIELDS}
    for row in Downtime.objects.order_by().values_list(*CODE_FIELDS).distinct():
        for field, value in zip(CODE_FIELDS, row, strict=True):
            options[field].add(value)
    options["instrument_type"].discard("")
    return {field: sorted(values) for field, values in options.items()}


class ExportTooLarge(APIException):
    status_code = 400
    default_code = "export_too_large"


def downtime_events(*, downtime_pk: int | None = None) -> QuerySet[DowntimeEvent]:
    """The audit trail, newest first; of one downtime when `downtime_pk` is given (it may have been deleted)."""
    events = DowntimeEvent.objects.order_by("-at", "-id")
    return events if downtime_pk is None else events.filter(downtime_pk=downtime_pk)


def downtime_calendar_window(
    *, queryset: QuerySet[Downtime], params: Mapping[str, Any], now: datetime.datetime | None = None
) -> QuerySet[Downtime]:
    """The calendar's default window: unless a time filter is given, downtimes that ended at most
    DOWNTIMES_ICS_PAST_DAYS days ago, or later. Subscriptions then stay small without freezing a date in the URL."""
    if any(params.get(name) not in (None, "") for name in TIME_PARAMETERS):
        return queryset
    now = now or timezone.now()
    return queryset.filter(end__gte=now - datetime.timedelta(days=settings.DOWNTIMES_ICS_PAST_DAYS))


def downtime_export_rows(*, queryset: QuerySet[Downtime]) -> list[Downtime]:
    """Every row of an export, or ExportTooLarge beyond DOWNTIMES_EXPORT_MAX_ROWS (one query more than the rows)."""
    limit = settings.DOWNTIMES_EXPORT_MAX_ROWS
    rows = list(queryset[: limit + 1])
    if len(rows) > limit:
        total = queryset.count()
        raise ExportTooLarge(
            f"This export would hold {total} rows, more than the limit of {limit}; narrow the filters or use limit "
            "and offset."
        )
    return rows
