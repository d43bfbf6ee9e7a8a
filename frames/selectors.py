"""Reads of the frames app: querysets for a user and a set of filters, with their related rows prefetched."""

import datetime
import hashlib
from collections import defaultdict
from typing import NamedTuple

from django.core.cache import cache
from django.db import OperationalError, connections, transaction
from django.db.models import Exists
from django.http import QueryDict
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from archive.params import parse_flag
from authentication.selectors import user_proposals
from frames.filters import FrameFilterSet, ThumbnailFilterSet, VersionFilterSet, cone_error_as_detail
from frames.models import AggregateSnapshot, Frame, Thumbnail, Version, proprietary_q, public_q
from frames.serializers import format_millis, parse_datetime_utc

ORDERING_FIELDS = {
    "id",
    "basename",
    "observation_date",
    "primary_optical_element",
    "configuration_type",
    "proposal_id",
    "instrument_id",
    "target_name",
    "reduction_level",
    "exposure_time",
}
DEFAULT_ORDERING = "-observation_date"
AGGREGATE_CACHE_KEY = "all_frames_aggregates"


def parse_public(value: str | None) -> bool | None:
    """The `public` parameter: None when absent; a 400 for a spelling that is not a flag."""
    try:
        return parse_flag(value)
    except ValueError as exc:
        raise ValidationError({"public": [str(exc)]}) from None


def frame_ordering(params: QueryDict) -> tuple[str, bool]:
    """(field, descending) from `ordering`; unknown fields fall back to the default."""
    value = (params.get("ordering") or "").strip()
    field = value.lstrip("-")
    if field not in ORDERING_FIELDS:
        value = DEFAULT_ORDERING
        field = value.lstrip("-")
    return field, value.startswith("-")


def _filtered(filterset_class, params, queryset):
    filterset = filterset_class(params, queryset=queryset)
    if not filterset.is_valid():
        raise ValidationError(cone_error_as_detail(filterset.errors))
    return filterset.qs


def frame_list(*, user, params: QueryDict):
    """Frames with a version visible to `user`, filtered by `params` (see docs/frames.md), not yet ordered."""
    proposals = user_proposals(user=user)
    queryset = Frame.objects.visible_to(user, proposals=proposals).with_versions().with_geojson()
    public = parse_public(params.get("public"))
    if public is not None:
        queryset = queryset.public_filter(user, public, proposals=proposals)
    return _filtered(FrameFilterSet, params, queryset)


def frame_get(*, user, frame_id: int, related: bool = True, thumbnails: bool = False) -> Frame | None:
    frame = Frame.objects.visible_to(user).with_geojson().filter(pk=frame_id).first()
    if frame is not None:
        attach_related([frame], related=related, thumbnails=thumbnails)
    return frame


def frame_headers(*, user, frame_id: int) -> dict | None:
    """The header of a visible frame; `{}` when it has none; None when invisible or missing."""
    row = Frame.objects.visible_to(user).filter(pk=frame_id).values_list("id", "headers__data").first()
    if row is None:
        return None
    return row[1] or {}


def frame_related(*, user, frame_id: int) -> list[Frame] | None:
    """Linked frames visible to the user (no placeholders), newest first; None when the frame is invisible."""
    proposals = user_proposals(user=user)
    visible = Frame.objects.visible_to(user, proposals=proposals)
    # Whether the frame itself is visible rides along with its related frames: one query when it has any.
    related = list(
        visible.filter(related_frames=frame_id)
        .with_geojson()
        .annotate(origin_visible=Exists(visible.filter(pk=frame_id)))
        .order_by("-observation_date", "-id")
    )
    origin_visible = related[0].origin_visible if related else visible.filter(pk=frame_id).exists()
    if not origin_visible:
        return None
    attach_related(related)
    return related


class VersionRow(NamedTuple):
    """What a page needs of a version, read as plain rows: a page of model instances cost a tenth of its time."""

    id: int
    frame_id: int
    key: str
    md5: str
    extension: str
    store_path: str
    size: int | None
    created: datetime.datetime


_PAGE_VERSIONS_SQL = (
    f"SELECT {', '.join(VersionRow._fields)} FROM {Version._meta.db_table} "
    "WHERE frame_id = ANY(%s) ORDER BY frame_id, created DESC, id DESC"
)
_PAGE_LINKS_SQL = (
    f"SELECT from_frame_id, to_frame_id FROM {Frame.related_frames.through._meta.db_table} "
    "WHERE from_frame_id = ANY(%s) ORDER BY to_frame_id"
)


def attach_related(frames: list[Frame], *, related: bool = True, thumbnails: bool = False) -> list[Frame]:
    """Versions, related ids and (if asked) thumbnails of a page: one query each, whatever the page size."""
    ids = [frame.id for frame in frames]
    # From the database the frames came from: a frame just written is read on the writer, and so are its rows.
    using = frames[0]._state.db if frames else None
    versions = defaultdict(list)
    related_ids = defaultdict(list)
    thumbs = defaultdict(list)
    if ids:
        # Plain SQL with one array parameter: the ORM's `__in` of a page's ids cost more than running the query.
        with connections[using or "default"].cursor() as cursor:
            cursor.execute(_PAGE_VERSIONS_SQL, [ids])
            for row in cursor.fetchall():
                version = VersionRow(*row)
                versions[version.frame_id].append(version)
            if related:
                cursor.execute(_PAGE_LINKS_SQL, [ids])
                for from_id, to_id in cursor.fetchall():
                    related_ids[from_id].append(to_id)
        if thumbnails:
            for thumbnail in Thumbnail.objects.using(using).filter(frame_id__in=ids).order_by("-id"):
                thumbs[thumbnail.frame_id].append(thumbnail)
    for frame in frames:
        frame.prefetched_versions = versions[frame.id]
        frame.prefetched_related_ids = related_ids[frame.id]
        frame.prefetched_thumbnails = thumbs[frame.id]
    return frames


def frame_written(*, frame_id: int) -> Frame:
    """A frame an ingest has just written, read back on the writer with its versions and links."""
    return attach_related([Frame.objects.using("default").with_geojson().get(pk=frame_id)])[0]


def version_list(*, user, params: QueryDict):
    """Versions for staff, read on the writer: the ingester's md5 check must see what was just archived."""
    queryset = Version.objects.using("default").select_related("frame")
    if not user.is_superuser:
        visible = Frame.objects.using("default").visible_to(user).values("id")
        queryset = queryset.filter(frame_id__in=visible)
    return _filtered(VersionFilterSet, params, queryset).order_by("-created", "-id")


def thumbnail_list(*, user, params: QueryDict):
    visible = Frame.objects.visible_to(user).values("id")
    queryset = Thumbnail.objects.filter(frame_id__in=visible)
    return _filtered(ThumbnailFilterSet, params, queryset).order_by("-id")


def thumbnail_get(*, user, thumbnail_id: int) -> Thumbnail | None:
    visible = Frame.objects.visible_to(user).values("id")
    return Thumbnail.objects.filter(pk=thumbnail_id, frame_id__in=visible).first()


def all_proposal_ids() -> list[str]:
    """Every proposal with frames, from the all-frames aggregate (empty if it was never generated)."""
    data = cache.get(AGGREGATE_CACHE_KEY)
    if data is None:
        snapshot = AggregateSnapshot.objects.order_by("-generated_at").first()
        data = snapshot.data if snapshot else {}
    return list(data.get("proposals", []))


# --- aggregates ---------------------------------------------------------------------------------------------------

AGGREGATE_FILTERS = (
    "start",
    "end",
    "public",
    "site_id",
    "telescope_id",
    "primary_optical_element",
    "instrument_id",
    "configuration_type",
    "proposal_id",
)
# A PostgreSQL advisory lock (not a cache key: the cache may be down) lets one caller build a missing aggregate.
AGGREGATE_BUILD_LOCK_ID = 7_351_260_842
AGGREGATE_BUILD_TIMEOUT_MS = 5000
# Each list of an aggregate and the column it holds the distinct values of.
AGGREGATE_COLUMNS = {
    "sites": "site_id",
    "telescopes": "telescope_id",
    "filters": "primary_optical_element",
    "instruments": "instrument_id",
    "obstypes": "configuration_type",
    "proposals": "proposal_id",
}
AGGREGATE_KEYS = tuple(AGGREGATE_COLUMNS)


class AggregatesNotReady(Exception):
    """No aggregate is cached or stored, and building one now took too long (or another caller is building it)."""


def _all_frames_aggregate() -> dict:
    from frames.services import aggregates_rebuild  # services imports this module

    data = cache.get(AGGREGATE_CACHE_KEY)
    if data is not None:
        return data
    snapshot = AggregateSnapshot.objects.order_by("-generated_at").first()
    if snapshot is not None:
        cache.set(AGGREGATE_CACHE_KEY, snapshot.data, None)
        return snapshot.data
    try:
        with transaction.atomic(using="default"), connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [AGGREGATE_BUILD_LOCK_ID])
            if not cursor.fetchone()[0]:
                raise AggregatesNotReady()
            return aggregates_rebuild(timeout_ms=AGGREGATE_BUILD_TIMEOUT_MS)
    except OperationalError as exc:
        raise AggregatesNotReady() from exc


def public_proposals(data: dict) -> set[str]:
    """Proposals with a frame public now, from each proposal's earliest public date in the aggregate: a proposal
    whose first frame turns public is listed from that instant, not from the next rebuild."""
    if "public_from" not in data:  # a snapshot written before the aggregate kept dates: its frozen set
        return set(data.get("public_proposals", []))
    now = format_millis(timezone.now())
    return {proposal for proposal, first in data["public_from"].items() if first < now}


def aggregate_all(*, user) -> dict:
    """The all-frames aggregate; `proposals` authorised: public ones, plus the user's own; all for superusers."""
    data = _all_frames_aggregate()
    result = {key: data[key] for key in AGGREGATE_KEYS}
    if not (user.is_authenticated and user.is_superuser):
        allowed = public_proposals(data) | set(user_proposals(user=user))
        result["proposals"] = [p for p in data["proposals"] if p in allowed]
    result["generated_at"] = data["generated_at"]
    return result


AGGREGATE_DEFAULT_TIMEOUT_MS = 2000
AGGREGATE_STAFF_MAX_TIMEOUT_MS = 20000
AGGREGATE_PRIVATE_TTL = 300


class AggregateTimeout(Exception):
    def __init__(self, timeout_ms: int):
        super().__init__(timeout_ms)
        self.timeout_ms = timeout_ms


def is_filtered_aggregate(params: QueryDict) -> bool:
    return any(name in params for name in AGGREGATE_FILTERS)


def _aggregate_window(params: QueryDict) -> tuple[datetime.datetime, datetime.datetime]:
    if not params.get("start") or not params.get("end"):
        raise ValidationError({"detail": "both start & end must be specified"})
    try:
        start = parse_datetime_utc(params["start"]).replace(second=0, microsecond=0)
        end = parse_datetime_utc(params["end"]).replace(second=0, microsecond=0)
    except ValueError:
        raise ValidationError({"detail": "start and end must be dates or ISO 8601 date/times"}) from None
    if end - start > datetime.timedelta(days=365):
        raise ValidationError({"detail": "time range must be less than or equal to a year (365 days)"})
    return start, end


def aggregate_timeout_ms(*, user, params: QueryDict) -> int:
    """`query_timeout` (ms): staff may ask for 1-20000; others at most the default; 0 or junk is the default."""
    try:
        asked = int(params.get("query_timeout", 0))
    except (TypeError, ValueError):
        asked = 0
    if asked <= 0:
        return AGGREGATE_DEFAULT_TIMEOUT_MS
    ceiling = (
        AGGREGATE_STAFF_MAX_TIMEOUT_MS if user.is_authenticated and user.is_staff else AGGREGATE_DEFAULT_TIMEOUT_MS
    )
    return min(asked, ceiling)


def _distinct_values(queryset, timeout_ms: int) -> dict:
    rows = []
    try:
        with transaction.atomic(using=queryset.db), connections[queryset.db].cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(timeout_ms)])
            rows = list(queryset.values_list(*AGGREGATE_COLUMNS.values()).order_by().distinct())
    except OperationalError as exc:
        if getattr(exc.__cause__, "pgcode", None) == "57014":
            raise AggregateTimeout(timeout_ms) from exc
        raise
    return {key: sorted({row[i] for row in rows if row[i]}) for i, key in enumerate(AGGREGATE_COLUMNS)}


def aggregate_filtered(*, user, params: QueryDict) -> tuple[dict, int | None]:
    """Distinct values of frames observed in [start, end): the public part when `public=true`, and the
    caller's proprietary part when authenticated. Returns the data and the public part's cache lifetime."""
    start, end = _aggregate_window(params)
    exact = {name: params[name] for name in AGGREGATE_COLUMNS.values() if params.get(name)}
    timeout_ms = aggregate_timeout_ms(user=user, params=params)
    base = Frame.objects.filter(observation_date__gte=start, observation_date__lt=end, **exact)
    now = timezone.now()
    parts = []
    public_ttl = None
    signature = hashlib.sha1(repr((start, end, sorted(exact.items()))).encode()).hexdigest()
    if parse_public(params.get("public")) is True:
        public_ttl = 3600 if end > now else 86400
        key = f"aggregate:public:{signature}"
        part = cache.get(key)
        if part is None:
            part = _distinct_values(base.filter(public_q(now)), timeout_ms)
            cache.set(key, part, public_ttl)
        parts.append(part)
    if user.is_authenticated:
        key = f"aggregate:private:{user.pk}:{signature}"
        part = cache.get(key)
        if part is None:
            private = base.filter(proprietary_q(now))
            if not user.is_superuser:
                private = private.filter(proposal_id__in=user_proposals(user=user))
            part = _distinct_values(private, timeout_ms)
            cache.set(key, part, AGGREGATE_PRIVATE_TTL)
        parts.append(part)
    result = {key: sorted({value for part in parts for value in part[key]}) for key in AGGREGATE_KEYS}
    result["generated_at"] = format_millis(now)
    return result, public_ttl


def zip_frames(*, user, frame_ids: list[int]) -> list[Frame]:
    """The frames among `frame_ids` that `user` may download, in the order asked, each with its versions."""
    frames = {frame.id: frame for frame in Frame.objects.visible_to(user).with_versions().filter(id__in=frame_ids)}
    ordered = [frames[frame_id] for frame_id in frame_ids if frame_id in frames]
    return attach_related(ordered, related=False)


def downloadable_frame(*, user, frame_id: int) -> Frame | None:
    """A visible frame with at least one version, its versions attached (funpack, catalog)."""
    frame = Frame.objects.visible_to(user).with_versions().filter(pk=frame_id).first()
    if frame is not None:
        attach_related([frame], related=False)
    return frame
