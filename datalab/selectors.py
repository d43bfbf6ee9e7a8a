"""Reads of the datalab: a user's sessions and operations, their outputs with signed URLs that stay the same between
polls, and fresh download and preview URLs of the archive frames a session holds."""

import datetime
import time
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest

from datalab.models import CatalogStar, DataOperation, DataSession, OperationRun, RunStatus
from datalab.operations.resolve import resolve_archive
from datalab.previews import preview_links
from datalab.storage import sign_url
from frames.filters import cone_condition
from frames.links import DownloadLinks
from frames.models import Thumbnail

PRODUCT_URL_FIELDS = {"fits": "fits_url", "large": "large_url", "small": "small_url", "tif": "tif_url"}


def session_queryset(*, user: User) -> QuerySet[DataSession]:
    operations = Prefetch("operations", queryset=DataOperation.objects.select_related("run").order_by("id"))
    return DataSession.objects.filter(user=user).select_related("user").prefetch_related(operations)


def session_get(*, user: User, session_id: Any) -> DataSession | None:
    try:
        return DataSession.objects.select_related("user").filter(user=user, pk=int(session_id)).first()
    except (TypeError, ValueError, OverflowError):
        return None


def operation_queryset(*, session: DataSession) -> QuerySet[DataOperation]:
    return DataOperation.objects.filter(session=session).select_related("run").order_by("id")


def _storage_keys(output: dict | None) -> list[str]:
    return [key for product in (output or {}).get("output_files", []) for key in product.get("keys", {}).values()]


def signed_product_urls(*, runs: list[OperationRun], base_url: str) -> dict[str, str]:
    """URLs of every stored product of these runs, by storage key.

    The front-end de-duplicates output items by deep equality on every poll, so a URL must stay the same between
    reads: each run keeps its signed URLs, and a read re-signs (one UPDATE for the run) only the keys that are new
    or have less than half their validity left.
    """
    expiry = settings.DATALAB_URL_EXPIRY_SECONDS
    now = time.time()
    urls: dict[str, str] = {}
    for run in runs:
        keys = _storage_keys(run.output)
        if not keys:
            continue
        memo = dict(run.signed_urls or {})
        stale = [key for key in keys if key not in memo or memo[key][1] - now < expiry / 2]
        if stale:
            for key in stale:
                memo[key] = list(sign_url(key, expires=expiry, base_url=base_url))
            memo = {key: memo[key] for key in keys}
            valid_until = min(entry[1] for entry in memo.values())
            run.signed_urls = memo
            run.urls_valid_until = datetime.datetime.fromtimestamp(valid_until, tz=datetime.UTC)
            OperationRun.objects.filter(pk=run.pk).update(
                signed_urls=run.signed_urls, urls_valid_until=run.urls_valid_until
            )
        urls.update({key: memo[key][0] for key in keys})
    return urls


def wire_output(run: OperationRun, urls: dict[str, str]) -> dict | None:
    """The run's `output` as the front-end reads it: null until something exists, always an object once done."""
    if run.output is None:
        return {"output_files": [], "output_data": []} if run.status == RunStatus.COMPLETED else None
    files = []
    for product in run.output.get("output_files", []):
        item = {"basename": product["basename"], "source": "datalab", "type": product.get("type", "fits")}
        for name, key in product.get("keys", {}).items():
            item[PRODUCT_URL_FIELDS[name]] = urls.get(key)
        files.append(item)
    return {"output_files": files, "output_data": run.output.get("output_data", [])}


def frame_item_links(*, user: User, basenames: set[str], request: HttpRequest) -> dict[str, dict[str, str]]:
    """Fresh `url`, `small_url` and `large_url` of the archive frames the user may see, by item basename, in three
    queries whatever their number. Previews are the frame's thumbnails, or pictures rendered from its file."""
    if not basenames:
        return {}
    found = resolve_archive(user=user, basenames=sorted(basenames))
    links = DownloadLinks(request)
    base_url = request.build_absolute_uri("/").rstrip("/")
    thumbnails: dict[int, dict[str, Thumbnail]] = {}
    frame_ids = {frame.id for frame, _ in found.values()}
    for thumbnail in Thumbnail.objects.filter(frame_id__in=frame_ids).order_by("id"):
        thumbnails.setdefault(thumbnail.frame_id, {})[thumbnail.size] = thumbnail
    result = {}
    for name, (frame, version) in found.items():
        entry = {"url": links.version_url(frame, version)}
        sizes = thumbnails.get(frame.id, {})
        small = sizes.get("small") or sizes.get("medium") or sizes.get("large")
        large = sizes.get("large") or sizes.get("medium") or small
        if small is not None:
            entry["small_url"] = links.thumbnail_url(small)
            entry["large_url"] = links.thumbnail_url(large)
        else:  # no thumbnails: pictures rendered from the file once, on first fetch
            entry.update(preview_links(version=version, user_id=links.user_id, base_url=base_url))
        result[name] = entry
    return result


CATALOG_COLUMNS = ("source_id", "ra", "dec", *CatalogStar.MEASUREMENTS)


def catalog_cone(*, ra: float, dec: float, radius_deg: float) -> list[dict[str, Any]]:
    """The local catalogue's stars within `radius_deg` of (ra, dec), nearest first: ST_DWithin on the geography, on
    the sphere the frames' cone search uses, answered through the position's GiST index; ordered by source_id."""
    condition = cone_condition(ra, dec, radius_deg, field="position")
    return list(CatalogStar.objects.filter(condition).order_by("source_id").values(*CATALOG_COLUMNS))


def catalog_loaded() -> bool:
    return CatalogStar.objects.exists()
