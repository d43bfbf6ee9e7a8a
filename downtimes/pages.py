"""What the /downtimes/ page shows for one request: rows, the filter form's state, pagination and links."""

import datetime
from dataclasses import dataclass
from functools import cached_property

from django.core.paginator import InvalidPage, Paginator
from django.http import QueryDict
from django.urls import reverse

from downtimes.filters import DowntimePageFilter
from downtimes.models import Downtime, wire_datetime
from downtimes.selectors import downtime_choice_options, downtime_read_topology

PAGE_SIZE = 50
PAGE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
NEARBY_PAGES = 2
# Parameters that only arrange or page the rows: they leave the "not yet ended" default in place.
ARRANGING_PARAMETERS = ("page", "order", "ordering", "limit", "offset", "format")
TEXT_FILTERS = (
    ("starts_after", "Starts after (UTC)"),
    ("starts_before", "Starts before (UTC)"),
    ("ends_after", "Ends after (UTC)"),
    ("ends_before", "Ends before (UTC)"),
)
SELECT_FILTERS = (
    ("site", "Site"),
    ("enclosure", "Enclosure"),
    ("telescope", "Telescope"),
    ("instrument_type", "Instrument type"),
)
WHOLE_TELESCOPE_OPTION = ("all", "All instruments (whole telescope)")
ORDER_OPTIONS = (
    ("", "Start (default)"),
    ("-start", "Start, latest first"),
    ("end", "End"),
    ("-end", "End, latest first"),
    ("created", "Created"),
    ("-created", "Created, latest first"),
    ("modified", "Modified"),
    ("-modified", "Modified, latest first"),
)


class PageNotFound(Exception):
    """A `page` that is not an integer or lies beyond the last page (404, as the reference)."""


def page_time(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime(PAGE_TIME_FORMAT)


@dataclass
class Row:
    downtime: Downtime
    start_text: str
    start_iso: str
    end_text: str
    end_iso: str
    active: bool


def _query(params: QueryDict, **changes) -> str:
    """`?` and the query string of `params` with `changes` applied (None removes a parameter)."""
    query = params.copy()
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query.setlist(name, value if isinstance(value, list) else [value])
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


class DowntimePage:
    """The page for one request. With no filter parameter at all, `ends_after = now` applies (shown in the form);
    any filter parameter, even empty (`?ends_after=`), turns that default off."""

    def __init__(self, *, params: QueryDict, now: datetime.datetime):
        self.params = params
        self.now = now
        self.now_text = page_time(now)
        self.default_applied = all(name in ARRANGING_PARAMETERS for name in params)
        self.effective = params.copy()
        if self.default_applied:
            self.effective.setlist("ends_after", [self.now_text])
        # The form's selects list configdb's codes, so the page (unlike the API's filters) may ask configdb; once
        # fetched, the filters' validation sees the same codes.
        self.topology = downtime_read_topology()
        self.filterset = DowntimePageFilter(self.effective, queryset=Downtime.objects.all())
        self.valid = self.filterset.is_valid()
        self.errors = {} if self.valid else self.filterset.errors
        self.non_field_errors = list(self.errors.get("__all__", []))
        self.rows: list[Row] = []
        self.paginator = None
        self.page = None

    # --- rows and pagination ------------------------------------------------------------------------------------
    def select_page(self, raw) -> None:
        if not self.valid:
            return
        try:
            number = 1 if raw is None else int(raw)
        except ValueError:
            raise PageNotFound() from None
        self.paginator = Paginator(self.filterset.qs, PAGE_SIZE)
        try:
            self.page = self.paginator.page(number)
        except InvalidPage:
            raise PageNotFound() from None
        self.rows = [
            Row(
                downtime=downtime,
                start_text=page_time(downtime.start),
                start_iso=wire_datetime(downtime.start),
                end_text=page_time(downtime.end),
                end_iso=wire_datetime(downtime.end),
                active=downtime.start <= self.now < downtime.end,
            )
            for downtime in self.page.object_list
        ]

    @property
    def count(self) -> int:
        return self.paginator.count if self.paginator else 0

    def _page_url(self, number: int) -> str:
        return _query(self.params, page=str(number))

    @property
    def page_links(self) -> list[dict]:
        if not self.page or self.paginator.num_pages <= 1:
            return []
        current, last = self.page.number, self.paginator.num_pages
        links = []
        if current > 1:
            links += [("First", 1), ("Previous", current - 1)]
        links += [(str(n), n) for n in range(max(1, current - NEARBY_PAGES), min(last, current + NEARBY_PAGES) + 1)]
        if current < last:
            links += [("Next", current + 1), ("Last", last)]
        return [{"label": label, "url": self._page_url(n), "current": n == current} for label, n in links]

    def _sort_url(self, field: str) -> str:
        current = self.params.get("order", "")
        return _query(self.params, page=None, order=f"-{field}" if current == field else field)

    @property
    def start_sort_url(self) -> str:
        return self._sort_url("start")

    @property
    def end_sort_url(self) -> str:
        return self._sort_url("end")

    # --- the form -----------------------------------------------------------------------------------------------
    def _errors(self, name: str) -> list[str]:
        return list(self.errors.get(name, []))

    @property
    def text_fields(self) -> list[dict]:
        return [
            {"name": name, "label": label, "value": self.effective.get(name, ""), "errors": self._errors(name)}
            for name, label in TEXT_FILTERS
        ]

    @cached_property
    def select_fields(self) -> list[dict]:
        options = downtime_choice_options(topology=self.topology)
        fields = []
        for name, label in SELECT_FILTERS:
            selected = set(self.effective.getlist(name))
            choices = [(value, value) for value in options[name]]
            if name == "instrument_type":
                choices.insert(0, WHOLE_TELESCOPE_OPTION)
            # A value typed into the URL that is not an option still shows, selected, next to its error.
            choices += [(value, value) for value in sorted(selected) if value and value not in dict(choices)]
            fields.append(
                {
                    "name": name,
                    "label": label,
                    "options": [{"value": v, "label": text, "selected": v in selected} for v, text in choices],
                    "errors": self._errors(name),
                }
            )
        return fields

    @property
    def reason_fields(self) -> list[dict]:
        return [
            {"name": name, "label": label, "value": self.effective.get(name, ""), "errors": self._errors(name)}
            for name, label in (("reason", "Reason contains"), ("reason_exact", "Reason exact"))
        ]

    @property
    def order_field(self) -> dict:
        current = self.params.get("order", "")
        known = dict(ORDER_OPTIONS)
        options = [{"value": v, "label": text, "selected": v == current} for v, text in ORDER_OPTIONS]
        if current and current not in known:
            options.append({"value": current, "label": current, "selected": True})
        return {"name": "order", "label": "Order", "options": options, "errors": self._errors("order")}

    @property
    def other_errors(self) -> list[str]:
        """Errors of parameters the form has no field for (created_*, modified_*, window_*, active_*)."""
        shown = {name for name, _ in (*TEXT_FILTERS, *SELECT_FILTERS)} | {"reason", "reason_exact", "order", "__all__"}
        return [
            f"{name}: {message}" for name, messages in self.errors.items() if name not in shown for message in messages
        ]

    # --- links --------------------------------------------------------------------------------------------------
    def _api(self, params: QueryDict, **changes) -> str:
        return reverse("downtime-list") + _query(params, page=None, **changes)

    @property
    def csv_url(self) -> str:
        # The page's own order (start), unless one is chosen: the file lists what the page lists.
        order = None if self.params.get("order") or self.params.get("ordering") else "start"
        changes = {"format": "csv"}
        if order:
            changes["order"] = order
        return self._api(self.effective, **changes)

    @property
    def ics_url(self) -> str:
        # Without the implicit `ends_after`: a subscription must not freeze "now" (the feed has its own window).
        return self._api(self.params, format="ics")

    @property
    def api_url(self) -> str:
        return self._api(self.effective)


def downtime_page(*, params: QueryDict, now: datetime.datetime) -> DowntimePage:
    return DowntimePage(params=params, now=now)
