"""The archive's search page at `/`: a form over the frames filters, the results as a table with thumbnails,
downloads and a zip of the selected frames, their footprints on a sky map and their observation dates as a
histogram. Built on the selectors the API uses (`frames.selectors.frame_list`), so it shows what the API would; the
form's query goes in the URL, so a search can be bookmarked and shared.

`/` answers the search page to browsers and the API root (JSON, or the browsable API with `?format=api`) to every
other client, as it always did.
"""

import datetime
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.db.models import Count, Max, Min
from django.db.models.functions import Trunc
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from archive.pagination import exact_count
from frames import aggregates, selectors
from frames.links import DownloadLinks
from frames.models import Frame
from frames.representations import area_geojson
from frames.skymap import sky_map

PAGE_SIZE = 50
# Results are counted exactly up to this many; beyond, the page says "more than".
COUNT_CAP = 10_000
TEXT_FIELDS = ("site_id", "telescope_id", "instrument_id", "primary_optical_element", "proposal_id")
# Each text field and the aggregate list that suggests its values.
SUGGESTIONS = {
    "site_id": "sites",
    "telescope_id": "telescopes",
    "instrument_id": "instruments",
    "primary_optical_element": "filters",
    "proposal_id": "proposals",
    "configuration_type": "obstypes",
}


class SearchForm(forms.Form):
    """The search form; every field optional. Its errors are shown beside the fields."""

    start = forms.DateTimeField(required=False, label="From (UTC)", input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d"])
    end = forms.DateTimeField(required=False, label="To (UTC)", input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d"])
    target_name = forms.CharField(required=False, max_length=200, label="Target name contains")
    ra = forms.FloatField(required=False, label="RA (deg)", min_value=0, max_value=360)
    dec = forms.FloatField(required=False, label="Dec (deg)", min_value=-90, max_value=90)
    radius = forms.FloatField(required=False, label="Radius (deg)")
    site_id = forms.CharField(required=False, max_length=3, label="Site")
    telescope_id = forms.CharField(required=False, max_length=4, label="Telescope")
    instrument_id = forms.CharField(required=False, max_length=64, label="Instrument")
    primary_optical_element = forms.CharField(required=False, max_length=100, label="Filter")
    proposal_id = forms.CharField(required=False, max_length=200, label="Proposal")
    configuration_type = forms.CharField(required=False, max_length=20, label="Configuration type")
    reduction_level = forms.ChoiceField(
        required=False, choices=[("", "Any"), ("0", "Raw (0)"), ("91", "Processed (91)")], label="Reduction level"
    )
    public = forms.ChoiceField(
        required=False,
        choices=[("", "Public and my proprietary"), ("true", "Public only"), ("false", "Proprietary only")],
        label="Data",
    )
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def clean_radius(self) -> float | None:
        radius = self.cleaned_data.get("radius")
        limit = settings.CONE_SEARCH_MAX_RADIUS_DEGREES
        if radius is not None and not 0 < radius <= limit:
            raise forms.ValidationError(f"The radius must be greater than 0 and at most {limit:g} degrees.")
        return radius

    def clean(self) -> dict:
        data = super().clean()
        cone = [data.get(name) is not None for name in ("ra", "dec", "radius")]
        if any(cone) and not all(cone):
            for name, given in zip(("ra", "dec", "radius"), cone, strict=True):
                if not given and name not in self.errors:
                    self.add_error(name, "RA, Dec and radius are given together.")
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            self.add_error("end", "The end is before the start.")
        return data

    def api_params(self) -> QueryDict:
        """The form's values as the query of `GET /frames/`."""
        params = QueryDict(mutable=True)
        for name, value in self.cleaned_data.items():
            if value in (None, "") or name == "page":
                continue
            if isinstance(value, datetime.datetime):
                value = value.replace(tzinfo=datetime.UTC).isoformat() if value.tzinfo is None else value.isoformat()
            params[name] = str(value)
        return params


@dataclass
class Row:
    frame: Frame
    url: str | None
    filename: str | None
    thumbnail_url: str | None
    proprietary: bool


@dataclass
class Bar:
    label: str
    count: int
    x: float
    y: float
    width: float
    height: float


def _histogram(queryset, count: int | None) -> tuple[list[Bar], str]:
    """Observation dates of every match (when there are at most COUNT_CAP), binned by hour, day, month or year."""
    if not count or count >= COUNT_CAP:
        return [], ""
    span = queryset.aggregate(first=Min("observation_date"), last=Max("observation_date"))
    days = (span["last"] - span["first"]).total_seconds() / 86400
    unit, label = ("hour", "%m-%d %H:00") if days <= 2 else ("day", "%Y-%m-%d") if days <= 90 else ("month", "%Y-%m")
    if days > 5 * 365:
        unit, label = "year", "%Y"
    rows = list(
        queryset.order_by()
        .annotate(bin=Trunc("observation_date", unit, tzinfo=datetime.UTC))
        .values("bin")
        .annotate(n=Count("id"))
        .order_by("bin")
    )
    highest = max(row["n"] for row in rows)
    step = 540 / len(rows)
    bars = []
    for index, row in enumerate(rows):
        height = 110 * row["n"] / highest
        x, width = 10 + index * step, max(step - 1, 1)
        bars.append(Bar(row["bin"].strftime(label), row["n"], x, 120 - height, width, height))
    return bars, unit


def _suggestions(user) -> dict[str, list[str]]:
    try:
        data = aggregates.aggregate_all(user=user)
    except aggregates.AggregatesNotReady:
        return {}
    return {field: data.get(key, []) for field, key in SUGGESTIONS.items()}


def search_page(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET or None)
    context: dict = {"form": form, "suggestions": _suggestions(request.user), "searched": bool(request.GET)}
    if form.is_bound and not form.is_valid():
        return render(request, "frames/search.html", context, status=400)
    params = form.api_params() if form.is_bound else QueryDict()
    try:
        queryset = selectors.frame_list(user=request.user, params=params)
    except ValidationError as exc:
        context["query_error"] = exc.detail
        return render(request, "frames/search.html", context, status=400)
    page = (form.cleaned_data.get("page") or 1) if form.is_bound else 1
    offset = min((page - 1) * PAGE_SIZE, settings.PAGINATION_MAX_OFFSET)
    frames = list(queryset.order_by("-observation_date", "-id")[offset : offset + PAGE_SIZE + 1])
    has_next = len(frames) > PAGE_SIZE
    frames = selectors.attach_related(frames[:PAGE_SIZE], related=False, thumbnails=True)
    count = exact_count(queryset, settings.PAGINATION_COUNT_TIMEOUT_MS, cap=COUNT_CAP)
    links = DownloadLinks(request)
    now = timezone.now()
    rows = []
    for frame in frames:
        current = frame.prefetched_versions[0] if frame.prefetched_versions else None
        thumbnails = sorted(frame.prefetched_thumbnails, key=lambda t: t.size != "small")
        rows.append(
            Row(
                frame=frame,
                url=links.version_url(frame, current) if current else None,
                filename=f"{frame.basename}{current.extension}" if current else None,
                thumbnail_url=links.thumbnail_url(thumbnails[0]) if thumbnails else None,
                proprietary=frame.public_date is None or frame.public_date >= now,
            )
        )
    footprints = []
    for frame in frames:
        area = area_geojson(frame)
        footprints.append((frame.basename, area["coordinates"][0] if area else []))
    bars, bin_unit = _histogram(queryset, count)
    query = request.GET.copy()
    query.pop("page", None)
    context |= {
        "rows": rows,
        "count": count,
        "count_capped": count is not None and count >= COUNT_CAP,
        "page": page,
        "first_shown": offset + 1,
        "last_shown": offset + len(rows),
        "previous_query": _with_page(query, page - 1) if page > 1 else None,
        "next_query": _with_page(query, page + 1) if has_next else None,
        "sky": sky_map(footprints),
        "bars": bars,
        "bin_unit": bin_unit,
        "zip_limit": settings.ZIP_DOWNLOAD_MAX_FILES,
    }
    return render(request, "frames/search.html", context)


def _with_page(query: QueryDict, page: int) -> str:
    query = query.copy()
    query["page"] = str(page)
    return query.urlencode()


def wants_page(request: HttpRequest) -> bool:
    """A browser asking for HTML, not an API client (which gets the API root, as before)."""
    return "format" not in request.GET and "text/html" in request.headers.get("Accept", "")
