"""The aggregates of /frames/aggregate/: the all-frames one (distinct values of the searchable columns, rebuilt
periodically into the cache and a snapshot row, updated at once by ingests) and the filtered one, computed per query
under a bounded statement timeout. Reads and rebuilds live together: a read of a missing aggregate rebuilds it."""

import datetime
import hashlib
from collections.abc import Callable

from django.core.cache import cache
from django.db import OperationalError, connections, transaction
from django.http import QueryDict
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from authentication.selectors import user_proposals
from frames.columns import AGGREGATE_COLUMNS
from frames.models import AggregateSnapshot, Frame, proprietary_q, public_q
from frames.selectors import parse_public
from frames.values import format_millis, parse_datetime_utc

WRITER = "default"
FRAME_TABLE = Frame._meta.db_table
AGGREGATE_CACHE_KEY = "all_frames_aggregates"


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
AGGREGATE_KEYS = tuple(AGGREGATE_COLUMNS)


class AggregatesNotReady(Exception):
    """No aggregate is cached or stored, and building one now took too long (or another caller is building it)."""


def _all_frames_aggregate() -> dict:
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


# The steps of a rebuild, in order, as `aggregates_rebuild` reports them to its `on_step`.
AGGREGATE_BUILD_STEPS = ("distinct values", "public dates", "stored")


def aggregates_rebuild(*, timeout_ms: int | None = None, on_step: Callable[[str], None] | None = None) -> dict:
    """One pass over frames with an observation date: distinct values per column, and each proposal's earliest
    public date (read against the clock when the aggregate is served). Written to the cache (no expiry) and to the
    snapshot row. `on_step` is called with each of AGGREGATE_BUILD_STEPS as it is done."""

    def step(name: str) -> None:
        if on_step is not None:
            on_step(name)

    columns = list(AGGREGATE_COLUMNS.values())
    values: dict[str, set] = {name: set() for name in AGGREGATE_COLUMNS}
    with transaction.atomic(using=WRITER), connections[WRITER].cursor() as cursor:
        if timeout_ms:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(int(timeout_ms))])
        cursor.execute(f"SELECT DISTINCT {', '.join(columns)} FROM {FRAME_TABLE} WHERE observation_date IS NOT NULL")
        for row in cursor.fetchall():
            for name, value in zip(AGGREGATE_COLUMNS, row, strict=True):
                if value:
                    values[name].add(value)
        step("distinct values")
        # The proposal index carries public_date: this reads the index alone.
        cursor.execute(
            f"SELECT proposal_id, MIN(public_date) FROM {FRAME_TABLE} WHERE observation_date IS NOT NULL "
            "AND public_date IS NOT NULL AND proposal_id <> '' GROUP BY proposal_id"
        )
        public_from = {proposal: format_millis(first) for proposal, first in cursor.fetchall()}
        step("public dates")
    now = timezone.now()
    data = {name: sorted(found) for name, found in values.items()}
    data["public_from"] = public_from
    data["generated_at"] = format_millis(now)
    AggregateSnapshot.objects.update_or_create(pk=1, defaults={"data": data, "generated_at": now})
    cache.set(AGGREGATE_CACHE_KEY, data, None)
    step("stored")
    return data


def aggregates_note_frame(*, values: dict) -> None:
    """Add a newly ingested frame's values to the cached aggregate at once (the next rebuild repairs a lost update)."""

    data = cache.get(AGGREGATE_CACHE_KEY)
    if data is None or not values.get("observation_date"):
        return
    changed = False
    for name, column in AGGREGATE_COLUMNS.items():
        value = values.get(column)
        if value and value not in data[name]:
            data[name] = sorted([*data[name], value])
            changed = True
    public_date = values.get("public_date")
    proposal = values.get("proposal_id")
    if proposal and public_date:
        first = format_millis(public_date)
        known = data.setdefault("public_from", {}).get(proposal)
        if known is None or first < known:
            data["public_from"][proposal] = first
            changed = True
    if changed:
        cache.set(AGGREGATE_CACHE_KEY, data, None)
