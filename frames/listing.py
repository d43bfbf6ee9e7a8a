"""How frame lists are searched, ordered and counted (docs/frames.md, "Searching frames" and "Ordering, pagination
and counts"): the query parameters as the OpenAPI schema lists them, and the policy `ArchivePagination` asks the
frames viewset for (the ordering, and which counts are exact under which timeout)."""

import django_filters
from django.conf import settings
from django.http import QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError

from authentication.selectors import user_proposals
from frames import selectors
from frames.columns import FRAME_FIELDS
from frames.filters import AnyOfFilter, FlagFilter, FrameFilterSet, IntegerValueField
from frames.values import parse_datetime_utc

# The reference's small queries, counted exactly (docs/frames.md, "Ordering, pagination and counts").
SMALL_QUERY_PARAMETERS = ("request_id", "REQNUM", "observation_id", "BLKUID", "basename_exact")
# Contains-searches. Their trigram index cannot give the list's order, so a page of them reads every match (and sorts)
# or walks the date index through non-matches until a page turns up: about what counting them costs, and they are
# counted whenever the estimate is below the threshold. Such lists are paged from the scan that counts them.
CONTAINS_PARAMETERS = ("basename", "OBJECT", "target_name")
# The exact filters of each ordering field. One value pins the field: every match then has the same value, the order
# is the id's, and the planner walks the primary key as for `ordering=id` (a proposal, instrument or filter of 50,000
# to 140,000 frames in 1,000,000 paged in 0.4-2.7 ms).
PINNING_PARAMETERS = {
    field.name: (field.name, field.legacy) for field in FRAME_FIELDS if field.kind in ("identifier", "integer")
} | {"target_name": ("target_name_exact",)}
# Filters whose index bounds the rows to one request's or one observation block's frames, or to the basenames named.
# A proposal does not: the (proposal_id, observation_date, id) index gives a proposal's frames in date order only, and
# a proposal holds tens of thousands of frames (about 50,000 in the benchmark archive; sorting one by exposure time
# took 200-340 ms). Its lists are sorted when the estimate allows, like any other.
BOUNDING_PARAMETERS = ("request_id", "REQNUM", "observation_id", "BLKUID")


FILTER_DESCRIPTIONS = {
    "covers": "WKT POINT(ra dec) or POLYGON: footprints covering it",
    "intersects": "WKT geometry (or GeoJSON): footprints intersecting it",
    "ra": "Cone centre RA (degrees), with dec and radius",
    "dec": "Cone centre Dec (degrees), with ra and radius",
    "radius": "Cone radius (degrees), with ra and dec",
}


def _schema_type(item: django_filters.Filter) -> OpenApiTypes:
    if isinstance(item, FlagFilter):
        return OpenApiTypes.BOOL
    if isinstance(item, django_filters.NumberFilter):
        return OpenApiTypes.NUMBER
    if isinstance(item, AnyOfFilter) and issubclass(item.base_field_class, IntegerValueField):
        return OpenApiTypes.INT
    return OpenApiTypes.STR


def list_parameters(*, exports: bool = False) -> list[OpenApiParameter]:
    """Every query parameter of `GET /frames/`: the filters of FrameFilterSet, then visibility, paging and shape, and
    with `exports` the formats that export a whole search."""
    parameters = []
    for name, item in FrameFilterSet.base_filters.items():
        repeated = isinstance(item, AnyOfFilter)
        description = FILTER_DESCRIPTIONS.get(name, "repeat for any of several values" if repeated else "")
        parameters.append(OpenApiParameter(name, _schema_type(item), description=description, many=repeated or None))
    return (
        parameters
        + [
            OpenApiParameter("public", OpenApiTypes.BOOL),
            OpenApiParameter("ordering", OpenApiTypes.STR, enum=sorted(selectors.ORDERING_FIELDS)),
            OpenApiParameter("limit", OpenApiTypes.INT),
            OpenApiParameter("offset", OpenApiTypes.INT),
            OpenApiParameter("pagination_style", OpenApiTypes.STR, enum=["limit", "cursor"]),
            OpenApiParameter("cursor", OpenApiTypes.STR),
            OpenApiParameter("force_count", OpenApiTypes.STR, description="any value: an exact count (authenticated)"),
            OpenApiParameter("include_related_frames", OpenApiTypes.BOOL),
            OpenApiParameter("include_thumbnails", OpenApiTypes.BOOL),
        ]
        + (EXPORT_PARAMETERS if exports else [])
    )


EXPORT_PARAMETERS = [
    OpenApiParameter(
        "format",
        OpenApiTypes.STR,
        enum=["json", "api", "csv", "ecsv", "votable"],
        description="csv, ecsv or votable: every matching frame as a table, streamed, instead of a page of JSON",
    )
]


def _values(params: QueryDict, name: str) -> list[str]:
    return [value for value in params.getlist(name) if value != ""]


def _window_days(params: QueryDict) -> float | None:
    try:
        return (parse_datetime_utc(params["end"]) - parse_datetime_utc(params["start"])).total_seconds() / 86400
    except (KeyError, ValueError, OverflowError):
        return None


class FrameListPolicy:
    """What ArchivePagination asks the frames viewset: the ordering and when (and how long) to count exactly."""

    def ordering_key(self, request):
        return selectors.frame_ordering(request.query_params)

    def estimate_allowed(self, request) -> bool:
        """Whether the planner's estimate may stand for the count. Not when the list names a proposal the caller
        may not see: the estimate is made from statistics over every row, so it would tell the size of that
        proposal's proprietary data; such a list is counted over what the caller sees, or not at all."""
        user = request.user
        named = request.query_params.getlist("proposal_id") + request.query_params.getlist("PROPID")
        if not named or (user.is_authenticated and user.is_superuser):
            return True
        own = set(user_proposals(user=user))
        return all(proposal in own for proposal in named)

    def count_timeout_ms(self, request) -> int | None:
        params = request.query_params
        if not self.estimate_allowed(request):
            return settings.PAGINATION_COUNT_TIMEOUT_MS
        if "force_count" in params and request.user.is_authenticated:
            # An exact count for whoever asks, but only staff may hold the database for the longer timeout.
            if request.user.is_staff:
                return settings.PAGINATION_FORCE_COUNT_TIMEOUT_MS
            return settings.PAGINATION_COUNT_TIMEOUT_MS
        if any(params.get(name) for name in SMALL_QUERY_PARAMETERS):
            return settings.PAGINATION_COUNT_TIMEOUT_MS
        days = _window_days(params)
        if days is not None:
            narrow = params.get("proposal_id") or params.get("PROPID") or params.get("target_name_exact")
            if days <= 7 or (narrow and days <= 63):
                return settings.PAGINATION_COUNT_TIMEOUT_MS
        return None

    def count_first(self, request) -> bool:
        return any(request.query_params.get(name) for name in CONTAINS_PARAMETERS)

    def ordering_sorts(self, request, field: str) -> bool:
        """Whether ordering by `field` makes the database read and sort every match, so that the list is served
        only when few rows match (ArchivePagination asks, and checks the planner's estimate against
        ORDERING_SORT_MAX_ROWS). Not when an index gives the order, when an exact filter pins the field to one value,
        or when an identifier filter bounds the rows."""
        if field in selectors.INDEX_ORDERINGS:
            return False
        params = request.query_params
        if any(len(_values(params, name)) == 1 for name in PINNING_PARAMETERS.get(field, ())):
            return False
        bounded = any(len(_values(params, name)) == 1 for name in BOUNDING_PARAMETERS)
        return not (bounded or _values(params, "basename_exact"))

    def ordering_refused(self, request, field: str, descending: bool, rows: int | None, estimated: bool):
        """The 400 of an ordering that would sort more rows than ORDERING_SORT_MAX_ROWS: `rows` the planner's
        estimate, or (`estimated` false) a count of the caller's rows that stopped past the limit (None: that count
        gave up)."""
        limit = settings.ORDERING_SORT_MAX_ROWS
        ordering = f"-{field}" if descending else field
        if estimated and rows is not None:
            matches = f"about {rows:,} frames match (the planner's estimate)"
        else:
            matches = f"more than {limit:,} frames match"
        message = (
            f"ordering={ordering} needs the database to sort every matching frame, and {matches}; it sorts at most "
            f"{limit:,} for one request. Narrow the search (a shorter start/end window, a proposal_id, a site_id or "
            "an instrument_id), or order by observation_date or id, which an index serves at any size."
        )
        return ValidationError({"ordering": [message]})
