"""Reads of the frames app: querysets for a user and a set of filters, with their related rows prefetched."""

import itertools
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.core import signing
from django.db import connections
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum
from django.http import QueryDict
from rest_framework.exceptions import ValidationError

from archive.filestore.local import read_download_token
from archive.params import parse_flag
from authentication.selectors import user_proposals
from frames.filters import FrameFilterSet, ThumbnailFilterSet, VersionFilterSet, cone_error_as_detail
from frames.models import Frame, FrameQuerySet, Thumbnail, Version, VersionRow

# Who asks: request.user, signed in or not.
AnyUser = User | AnonymousUser
Rows = TypeVar("Rows", bound=QuerySet[Any, Any])

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
# Orderings an index gives, `id` breaking ties: the primary key, (observation_date, id) and the unique basename. Any
# other makes the database read and sort every match, which the frames list allows only for few matches
# (frames.listing.FrameListPolicy.ordering_sorts; docs/frames.md, "Ordering, pagination and counts").
INDEX_ORDERINGS = frozenset({"id", "observation_date", "basename"})


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


def _filtered(filterset_class: type[Any], params: QueryDict, queryset: Rows) -> Rows:
    filterset = filterset_class(params, queryset=queryset)
    if not filterset.is_valid():
        raise ValidationError(cone_error_as_detail(filterset.errors))
    return filterset.qs


def frame_list(*, user: AnyUser, params: QueryDict) -> FrameQuerySet:
    """Frames with a version visible to `user`, filtered by `params` (see docs/frames.md), not yet ordered."""
    proposals = user_proposals(user=user)
    queryset = Frame.objects.visible_to(user, proposals=proposals).with_versions().with_geojson()
    public = parse_public(params.get("public"))
    if public is not None:
        queryset = queryset.public_filter(user, public, proposals=proposals)
    return _filtered(FrameFilterSet, params, queryset)


def frame_get(*, user: AnyUser, frame_id: int, related: bool = True, thumbnails: bool = False) -> Frame | None:
    frame = Frame.objects.visible_to(user).with_geojson().filter(pk=frame_id).first()
    if frame is not None:
        attach_related([frame], related=related, thumbnails=thumbnails)
    return frame


def frame_headers(*, user: AnyUser, frame_id: int) -> dict | None:
    """The header of a visible frame; `{}` when it has none; None when invisible or missing."""
    row = Frame.objects.visible_to(user).filter(pk=frame_id).values_list("id", "headers__data").first()
    if row is None:
        return None
    return row[1] or {}


def frame_related(*, user: AnyUser, frame_id: int) -> list[Frame] | None:
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


def version_list(*, user: AnyUser, params: QueryDict) -> QuerySet[Version]:
    """Versions for staff, read on the writer: the ingester's md5 check must see what was just archived."""
    queryset = Version.objects.using("default").select_related("frame")
    if not user.is_superuser:
        visible = Frame.objects.using("default").visible_to(user).values("id")
        queryset = queryset.filter(frame_id__in=visible)
    return _filtered(VersionFilterSet, params, queryset).order_by("-created", "-id")


def thumbnail_list(*, user: AnyUser, params: QueryDict) -> QuerySet[Thumbnail]:
    visible = Frame.objects.visible_to(user).values("id")
    queryset = Thumbnail.objects.filter(frame_id__in=visible)
    return _filtered(ThumbnailFilterSet, params, queryset).order_by("-id")


def thumbnail_get(*, user: AnyUser, thumbnail_id: int) -> Thumbnail | None:
    visible = Frame.objects.visible_to(user).values("id")
    return Thumbnail.objects.filter(pk=thumbnail_id, frame_id__in=visible).first()


def zip_frames(*, user: AnyUser, frame_ids: list[int]) -> list[Frame]:
    """The frames among `frame_ids` that `user` may download, in the order asked, each with its versions."""
    frames = {frame.id: frame for frame in Frame.objects.visible_to(user).with_versions().filter(id__in=frame_ids)}
    ordered = [frames[frame_id] for frame_id in frame_ids if frame_id in frames]
    return attach_related(ordered, related=False)


def zip_frames_matching(*, user: AnyUser, params: QueryDict, limit: int) -> list[Frame]:
    """At most `limit` frames with a version that `user` may see and `params` (the filters of GET /frames/) match,
    newest first, each with its versions: the first batch of `downloadable_frames`."""
    return list(itertools.islice(downloadable_frames(user=user, params=params, batch=limit), limit))


def download_summary(*, user: AnyUser, params: QueryDict) -> dict[str, int]:
    """How many visible frames `params` match, the bytes of their current files whose size is known, and how many
    sizes are not known yet: what a download of them would hold."""
    current = Version.objects.filter(frame_id=OuterRef("pk")).order_by("-created", "-id")
    totals = (
        frame_list(user=user, params=params)
        .order_by()
        .annotate(current_size=Subquery(current.values("size")[:1]))
        .aggregate(count=Count("id"), bytes=Sum("current_size"), unknown=Count("id", filter=Q(current_size=None)))
    )
    return {"count": totals["count"], "bytes": totals["bytes"] or 0, "unknown_sizes": totals["unknown"]}


def downloadable_frames(*, user: AnyUser, params: QueryDict, batch: int = 500) -> Iterator[Frame]:
    """Every visible frame `params` match, newest first, with its versions, read a batch at a time by keyset so that
    memory does not grow with their number."""
    queryset = frame_list(user=user, params=params)  # here, so that bad filters are a 400 before any byte is sent

    def walk() -> Iterator[Frame]:
        after: tuple | None = None
        while True:
            page = queryset.order_by("-observation_date", "-id")
            if after is not None:
                page = page.filter(Q(observation_date__lt=after[0]) | Q(observation_date=after[0], id__lt=after[1]))
            frames = attach_related(list(page[:batch]), related=False)
            yield from frames
            if len(frames) < batch:
                return
            after = (frames[-1].observation_date, frames[-1].id)

    return walk()


def downloadable_frame(*, user: AnyUser, frame_id: int) -> Frame | None:
    """A visible frame with at least one version, its versions attached (funpack, catalog)."""
    frame = Frame.objects.visible_to(user).with_versions().filter(pk=frame_id).first()
    if frame is not None:
        attach_related([frame], related=False)
    return frame


class DownloadLinkExpired(Exception):
    """A signed local download link past its lifetime."""


def downloadable_object(*, token: str) -> Version | Thumbnail | None:
    """The version or thumbnail a signed local download link names, if the user it was issued to may still see its
    frame; None for a forged link or one that names nothing visible. DownloadLinkExpired past its lifetime."""
    try:
        kind, object_id, user_id, issued = read_download_token(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if issued + settings.DOWNLOAD_URL_EXPIRY_SECONDS < time.time():
        raise DownloadLinkExpired()
    kinds: dict[str, type[Version] | type[Thumbnail]] = {"v": Version, "t": Thumbnail}
    model = kinds.get(kind)
    return visible_stored_object(model=model, object_id=object_id, user_id=user_id) if model is not None else None


def visible_stored_object(
    *, model: type[Version] | type[Thumbnail], object_id: int, user_id: int | None
) -> Version | Thumbnail | None:
    """A version or thumbnail by id, if the (active) user a link was issued to, or anyone when None, may see its
    frame now: what every signed link to a stored file checks on use."""
    obj = model.objects.select_related("frame").filter(pk=object_id).first()
    if obj is None:
        return None
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first() if user_id else None
    if not Frame.objects.visible_to(user or AnonymousUser()).filter(pk=obj.frame_id).exists():
        return None
    return obj
