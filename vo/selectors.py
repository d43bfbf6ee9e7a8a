"""Reads of the VO services: the frames an SIA query, a cone search or a DataLink request names, visible to the
caller, through the same spatial SQL (and GiST index) as /frames/, each in one statement under a statement timeout."""

import datetime
import math
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.gis.db.models.functions import AsGeoJSON
from django.contrib.gis.geos import Polygon as GeosPolygon
from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.models import BooleanField, FloatField, Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import Upper

from authentication.selectors import user_proposals
from frames.filters import SPHERE_RADIUS_M, cone_condition
from frames.models import Frame, FrameQuerySet, Version
from frames.selectors import attach_related
from frames.values import normalise_longitude
from vo import obscore
from vo.params import Circle, Interval, Polygon, Range, Shape, SiaQuery

AnyUser = User | AnonymousUser

IMAGE_EXTENSIONS = (".fits", ".fits.fz")
# The footprint's largest great-circle distance between two vertices, in degrees, on PostGIS's sphere: the FOV
# constraint (s_fov is the same distance computed from the ring the row carries, obscore.fov_degrees: PostgreSQL
# estimates this subquery at a million rows a frame, which costs a plan more than the few vertices take).
FOV_SQL = (
    "(SELECT max(ST_Distance(a.geom::geography, b.geom::geography, false)) "
    'FROM ST_DumpPoints("frames_frame"."area"::geometry) AS a, ST_DumpPoints("frames_frame"."area"::geometry) AS b)'
    f" * 180.0 / (pi() * {SPHERE_RADIUS_M!r})"
)
CENTROID_LON_SQL = 'ST_X(ST_Centroid("frames_frame"."area")::geometry)'
CENTROID_LAT_SQL = 'ST_Y(ST_Centroid("frames_frame"."area")::geometry)'
TIME_END_SQL = '"frames_frame"."observation_date" + COALESCE("frames_frame"."exposure_time", 0) * interval \'1 second\''
# A RANGE's constant-Dec edges get a vertex per degree; its parts are at most this wide in RA.
RANGE_PART_DEGREES = 90.0
DEGENERATE = 1e-7

FRAME_COLUMNS = (
    "id",
    "basename",
    "observation_date",
    "proposal_id",
    "instrument_id",
    "target_name",
    "site_id",
    "telescope_id",
    "primary_optical_element",
    "configuration_type",
    "reduction_level",
    "exposure_time",
    "public_date",
    "observation_id",
    "request_id",
    "centroid_lon",
    "centroid_lat",
    "area_geojson",
)


def _never() -> Q:
    return Q(pk__in=[])


# --- POS -------------------------------------------------------------------------------------------------------------


def _polygon(ring: list[tuple[float, float]]) -> GeosPolygon:
    """A query polygon from (RA, Dec) vertices, longitudes mapped as footprints are stored."""
    points = [(normalise_longitude(ra % 360.0), dec) for ra, dec in ring]
    deduplicated = [point for i, point in enumerate(points) if i == 0 or point != points[i - 1]]
    if deduplicated[0] == deduplicated[-1]:
        deduplicated.pop()
    return GeosPolygon([*deduplicated, deduplicated[0]], srid=4326)


def _arc(ra_from: float, ra_to: float, dec: float) -> list[tuple[float, float]]:
    """A constant-Dec edge, a vertex per degree (a pole is one vertex)."""
    if abs(dec) == 90.0:
        return [(ra_from, dec)]
    steps = max(1, math.ceil(abs(ra_to - ra_from)))
    return [(ra_from + (ra_to - ra_from) * i / steps, dec) for i in range(steps + 1)]


def _meridian(ra: float, dec_from: float, dec_to: float) -> list[tuple[float, float]]:
    """A constant-RA edge: a great circle, with a vertex every 45 degrees so that no edge is ambiguous."""
    steps = max(1, math.ceil(abs(dec_to - dec_from) / 45.0))
    return [(ra, dec_from + (dec_to - dec_from) * i / steps) for i in range(1, steps)]


def range_parts(shape: Range) -> list[GeosPolygon] | None:
    """A RANGE as geography polygons at most 90 degrees wide whose Dec edges follow their small circles; None for
    the whole sky."""
    dec1, dec2 = shape.dec1, shape.dec2
    if dec2 - dec1 < DEGENERATE:
        dec1, dec2 = max(-90.0, dec1 - DEGENERATE), min(90.0, dec2 + DEGENERATE)
    if math.isinf(shape.ra1) or math.isinf(shape.ra2) or shape.ra2 - shape.ra1 >= 360.0:
        start, width = 0.0, 360.0
    else:
        start = shape.ra1
        width = shape.ra2 - shape.ra1 if shape.ra2 >= shape.ra1 else shape.ra2 + 360.0 - shape.ra1
        width = max(width, DEGENERATE)
    if width >= 360.0 and dec1 <= -90.0 and dec2 >= 90.0:
        return None
    count = math.ceil(width / RANGE_PART_DEGREES)
    parts = []
    for index in range(count):
        west = start + width * index / count
        east = start + width * (index + 1) / count
        ring = [
            *_arc(west, east, dec1),
            *_meridian(east, dec1, dec2),
            *reversed(_arc(west, east, dec2)),
            *_meridian(west, dec2, dec1),
        ]
        parts.append(_polygon(ring))
    return parts


def _shape_condition(shape: Shape) -> Q:
    if isinstance(shape, Circle):
        return Q(cone_condition(shape.ra, shape.dec, shape.radius))
    if isinstance(shape, Polygon):
        return Q(area__intersects=_polygon(list(shape.vertices)))
    parts = range_parts(shape)
    if parts is None:
        return Q(area__isnull=False)
    condition = Q()
    for part in parts:
        condition |= Q(area__intersects=part)
    return condition


# --- the other constraints ---------------------------------------------------------------------------------------


def _bounded(sql: str, interval: Interval) -> Q:
    """`sql` (a nullable number) within the interval; a null never is."""
    parts, params = [f"({sql}) IS NOT NULL"], []
    if not math.isinf(interval.lo):
        parts.append(f"({sql}) >= %s")
        params.append(interval.lo)
    if not math.isinf(interval.hi):
        parts.append(f"({sql}) <= %s")
        params.append(interval.hi)
    return Q(RawSQL(" AND ".join(parts), params, output_field=BooleanField()))


def _exposure(interval: Interval) -> Q:
    condition = Q(exposure_time__isnull=False)
    if not math.isinf(interval.lo):
        condition &= Q(exposure_time__gte=interval.lo)
    if not math.isinf(interval.hi):
        condition &= Q(exposure_time__lte=interval.hi)
    return condition


def _time(interval: Interval) -> Q:
    """Frames whose [start, start + exposure] meets the MJD interval: the date index bounds the start first."""
    condition = Q()
    if not math.isinf(interval.hi):
        condition &= Q(observation_date__lte=obscore.from_mjd(interval.hi))
    if not math.isinf(interval.lo):
        lo = obscore.from_mjd(interval.lo)
        earliest = max(lo - datetime.timedelta(seconds=settings.VO_MAX_EXPOSURE_SECONDS), obscore.from_mjd(-math.inf))
        condition &= Q(observation_date__gte=earliest)
        condition &= Q(RawSQL(f"{TIME_END_SQL} >= %s", [lo], output_field=BooleanField()))
    return condition


def _filters_matching(intervals: tuple[Interval, ...], *, power: bool) -> Q:
    """`primary_optical_element IN (filters whose passband, or resolving power, meets any interval)`."""
    names = set()
    for name, (lo, hi) in obscore.filter_bands().items():
        for interval in intervals:
            if power:
                value = obscore.resolving_power(lo, hi)
                if interval.lo <= value <= interval.hi:
                    names.add(name)
            elif lo <= interval.hi and hi >= interval.lo:
                names.add(name)
    return Q(primary_optical_element__in=sorted(names)) if names else _never()


def _calib(levels: tuple[int, ...]) -> Q:
    mapped = obscore.calib_levels()
    condition = _never()
    for level in levels:
        if level == obscore.DEFAULT_CALIB_LEVEL:
            condition |= ~Q(reduction_level__in=[key for key, value in mapped.items() if value != level])
        else:
            keys = [key for key, value in mapped.items() if value == level]
            if keys:
                condition |= Q(reduction_level__in=keys)
    return condition


def _facility(values: tuple[str, ...]) -> Q:
    condition = _never()
    for value in values:
        site, dash, telescope = value.partition("-")
        if dash:
            condition |= Q(site_id=site, telescope_id=telescope)
    return condition


def _all_if(values: tuple[str, ...], accepted: str) -> Q:
    return Q() if accepted in values else _never()


def sia_conditions(query: SiaQuery) -> list[Q]:
    """One condition per constrained parameter (its values OR'ed); the conditions are AND'ed."""
    conditions = []
    if query.pos:
        pos = _never()
        for shape in query.pos:
            pos |= _shape_condition(shape)
        conditions.append(pos)
    for name, intervals in query.intervals:
        if name == "BAND":
            conditions.append(_filters_matching(intervals, power=False))
        elif name == "SPECRP":
            conditions.append(_filters_matching(intervals, power=True))
        elif name in ("SPATRES",):
            conditions.append(_never())
        else:
            condition = _never()
            for interval in intervals:
                if name == "TIME":
                    condition |= _time(interval)
                elif name == "FOV":
                    condition |= _bounded(FOV_SQL, interval)
                else:  # EXPTIME, TIMERES
                    condition |= _exposure(interval)
            conditions.append(condition)
    for name, values in query.strings:
        if name == "POL":
            conditions.append(_never())
        elif name == "ID":
            basenames = [basename.upper() for value in values if (basename := obscore.basename_of_did(value))]
            conditions.append(Q(basename_upper__in=basenames) if basenames else _never())
        elif name == "COLLECTION":
            conditions.append(_all_if(values, settings.VO_COLLECTION))
        elif name == "DPTYPE":
            conditions.append(_all_if(values, "image"))
        elif name == "FORMAT":
            conditions.append(_all_if(values, "image/fits"))
        elif name == "FACILITY":
            conditions.append(_facility(values))
        elif name == "INSTRUMENT":
            conditions.append(Q(instrument_id__in=values))
        elif name == "TARGET":
            conditions.append(Q(target_name__in=values))
    if query.calib:
        conditions.append(_calib(query.calib))
    return conditions


# --- the statement -------------------------------------------------------------------------------------------------


def _base(user: AnyUser) -> FrameQuerySet:
    proposals = user_proposals(user=user)
    return Frame.objects.visible_to(user, proposals=proposals).alias(basename_upper=Upper("basename"))


_ROWS_SQL = (
    "SELECT {frame}, v.id, v.key, v.extension, v.store_path, v.size FROM ({inner}) AS f "
    "CROSS JOIN LATERAL (SELECT id, key, extension, store_path, size FROM {versions} "
    "WHERE frame_id = f.id ORDER BY created DESC, id DESC LIMIT 1) AS v "
    "WHERE v.extension = ANY(%s) ORDER BY f.observation_date DESC, f.id DESC LIMIT %s"
)


def frame_rows(queryset: FrameQuerySet, *, limit: int) -> tuple[list[obscore.FrameRow], bool]:
    """Up to `limit` frames of `queryset` whose current version is a FITS image, newest first, with their ObsCore
    values, in one statement that reads one row more to know whether there were more: (rows, overflow)."""
    inner = (
        queryset.order_by()
        .annotate(
            centroid_lon=RawSQL(CENTROID_LON_SQL, (), output_field=FloatField()),
            centroid_lat=RawSQL(CENTROID_LAT_SQL, (), output_field=FloatField()),
            area_geojson=AsGeoJSON("area", precision=15),
        )
        .values_list(*FRAME_COLUMNS)
    )
    using = inner.db
    try:
        inner_sql, inner_params = inner.query.get_compiler(using=using).as_sql()
    except EmptyResultSet:
        return [], False
    sql = _ROWS_SQL.format(
        frame=", ".join(f"f.{column}" for column in FRAME_COLUMNS),
        inner=inner_sql,
        versions=Version._meta.db_table,
    )
    params: list[Any] = [*inner_params, list(IMAGE_EXTENSIONS), limit + 1]
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        # JIT compilation costs more than these LIMIT-bounded statements take (the FOV constraint's estimate asks
        # for it); the timeout bounds one statement's work.
        cursor.execute(
            "SELECT set_config('statement_timeout', %s, true), set_config('jit', 'off', true)",
            [str(settings.VO_QUERY_TIMEOUT_MS)],
        )
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    width = len(FRAME_COLUMNS)
    rows = [obscore.FrameRow._make([*row[:width], obscore.VersionCells._make(row[width:])]) for row in fetched[:limit]]
    return rows, len(fetched) > limit


def sia_frames(*, user: AnyUser, query: SiaQuery, maxrec: int) -> tuple[list[obscore.FrameRow], bool]:
    """The frames an SIA query names, visible to `user`, newest first: (up to `maxrec` rows, overflow)."""
    queryset = _base(user)
    for condition in sia_conditions(query):
        queryset = queryset.filter(condition)
    return frame_rows(queryset, limit=maxrec)


def cone_frames(
    *, user: AnyUser, ra: float, dec: float, radius: float, maxrec: int
) -> tuple[list[obscore.FrameRow], bool]:
    """The frames with some of their footprint within `radius` degrees of (ra, dec), as `/frames/?ra=&dec=&radius=`."""
    return frame_rows(_base(user).filter(cone_condition(ra, dec, radius)), limit=maxrec)


def datalink_frames(*, user: AnyUser, basenames: list[str]) -> tuple[dict[str, Frame], dict[int, Frame]]:
    """The visible frames among `basenames` (upper-cased) with their versions, related ids and thumbnails, and the
    visible related frames with their versions: ({BASENAME: frame}, {id: related frame})."""
    proposals = user_proposals(user=user)
    visible = Frame.objects.visible_to(user, proposals=proposals)
    frames = list(visible.alias(basename_upper=Upper("basename")).filter(basename_upper__in=basenames))
    attach_related(frames, thumbnails=True)
    related_ids = {related for frame in frames for related in frame.prefetched_related_ids}
    related = list(visible.filter(id__in=related_ids)) if related_ids else []
    attach_related(related, related=False)
    return {frame.basename.upper(): frame for frame in frames}, {frame.id: frame for frame in related}


def example_position() -> tuple[float, float] | None:
    """The centre of the newest public frame's footprint (RA, Dec), for the cone search's test query."""
    row = (
        Frame.objects.visible_to(None)
        .filter(area__isnull=False)
        .order_by("-observation_date", "-id")
        .annotate(
            lon=RawSQL(CENTROID_LON_SQL, (), output_field=FloatField()),
            lat=RawSQL(CENTROID_LAT_SQL, (), output_field=FloatField()),
        )
        .values_list("lon", "lat")
        .first()
    )
    return (row[0] % 360.0, row[1]) if row is not None else None


def database_available() -> bool:
    """Whether the database answers `SELECT 1` within a second."""
    using = Frame.objects.db
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', '1000', true), 1")
        return cursor.fetchone() is not None
