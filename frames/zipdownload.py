"""The zip download (`/frames/zip/`): which frames (ids, or the filters of `GET /frames/`), within which limits, and
the response: streamed as it is built, or laid out up front and served in byte ranges (docs/frames.md, "Zip").

- `POST` with `frame_ids` in the body (JSON or the web client's form) is the reference's download, unchanged but
  for the manifest it now carries.
- `GET ?frame_ids=1,2,3` and `GET ?<any filter of GET /frames/>` (and a `POST` whose body names no ids, its filters
  in the query string) are downloads a client can repeat: when every member is a stored file whose size and CRC-32
  are recorded, the zip has a `Content-Length`, a strong `ETag`, and answers `Range` and `If-Range`, so `curl -C -`
  resumes it.
"""

import datetime
import logging
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from archive.zipstream import stream_zip
from frames import downloads, selectors
from frames.fileviews import parse_range
from frames.http import flag
from frames.links import DownloadLinks
from frames.models import Frame
from frames.serializers import ZipRequestSerializer

logger = logging.getLogger(__name__)

FRAME_IDS = ("frame_ids", "frame_ids[]")
# Parameters of the zip itself, not filters of the frames.
ZIP_OPTIONS = ("uncompress", "catalog_only", "format", "auth_token", *FRAME_IDS)


def _ids_from_query(request: Request) -> list[str]:
    """The `frame_ids` of the query string: comma-separated, the parameter repeated, or both."""
    values = [part for name in FRAME_IDS for value in request.query_params.getlist(name) for part in value.split(",")]
    return [value.strip() for value in values if value.strip()]


def _by_query(request: Request) -> bool:
    """A POST is a download by query when its query string names filters and its body no frame ids."""
    data = request.data
    named = hasattr(data, "keys") and any(str(key).startswith("frame_ids") for key in data)
    filters = [name for name in request.query_params if name not in ZIP_OPTIONS]
    return bool(filters) and not named


def _matching(request: Request) -> list[Frame]:
    """The visible frames matching the request's filters, within ZIP_DOWNLOAD_MAX_FILES."""
    params = request.query_params.copy()
    for name in ZIP_OPTIONS:
        params.pop(name, None)
    if not params:
        raise ValidationError(
            {"detail": "Name the frames: frame_ids=1,2,3, or filters as for GET /frames/ (proposal_id, start, ...)."}
        )
    limit = settings.ZIP_DOWNLOAD_MAX_FILES
    frames = selectors.zip_frames_matching(user=request.user, params=params, limit=limit + 1)
    if not frames:
        raise ValidationError({"detail": "No frames you may download match these filters."})
    if len(frames) > limit:
        raise ValidationError(
            {
                "detail": f"More than {limit} frames match these filters; a zip holds at most {limit}. Narrow the "
                "filters, or use /frames/download-script/ to fetch them one by one."
            }
        )
    return frames


def selection(request: Request) -> tuple[list[Frame], bool, bool]:
    """The frames to zip, and the `uncompress` and `catalog_only` options. Ids, from the body or the query string,
    are checked by ZipRequestSerializer either way."""
    if request.method == "POST" and not _by_query(request):
        options = _validated(request.data)
        return _named_frames(request, options["frame_ids"]), options["uncompress"], options["catalog_only"]
    uncompress, catalog_only = flag(request, "uncompress", False), flag(request, "catalog_only", False)
    ids = _ids_from_query(request)
    if ids:
        options = _validated({"frame_ids": ids, "uncompress": uncompress, "catalog_only": catalog_only})
        frames = _named_frames(request, options["frame_ids"])
    else:
        frames = _matching(request)
        if uncompress and len(frames) > settings.ZIP_DOWNLOAD_MAX_UNCOMPRESSED_FILES:
            raise ValidationError(
                {
                    "detail": f"A maximum of {settings.ZIP_DOWNLOAD_MAX_UNCOMPRESSED_FILES} frames can be downloaded "
                    f"with the uncompress flag; these filters match {len(frames)}."
                }
            )
    known = sum(downloads.current_version(frame).size or 0 for frame in frames)
    if known > settings.ZIP_DOWNLOAD_MAX_BYTES:
        raise ValidationError(
            {
                "detail": f"These {len(frames)} frames hold {known} bytes; a zip holds at most "
                f"{settings.ZIP_DOWNLOAD_MAX_BYTES}. Narrow the selection, or use /frames/download-script/."
            }
        )
    return frames, uncompress, catalog_only


def _validated(data) -> dict:
    serializer = ZipRequestSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _named_frames(request: Request, frame_ids: list[int]) -> list[Frame]:
    """The frames among `frame_ids` the caller may download; none of them is a 404, as the reference answered."""
    frames = selectors.zip_frames(user=request.user, frame_ids=frame_ids)
    if not frames:
        raise NotFound()
    return frames


def _logged(chunks: Iterator[bytes], name: str) -> Iterator[bytes]:
    """Once headers are sent a failure can only cut the stream short; it is logged so that it is not silent."""
    try:
        yield from chunks
    except Exception:
        logger.exception("Zip %s aborted while streaming", name)
        raise


def _attachment(response: HttpResponse, directory: str) -> HttpResponse:
    response["Content-Disposition"] = content_disposition_header(True, f"{directory}.zip")
    response["X-Accel-Buffering"] = "no"
    response.set_cookie("fileDownload", "true", path="/")
    response.xframe_options_exempt = True  # the web client downloads through a hidden iframe
    return response


def _ranged_response(request: Request, ranged: downloads.RangedZip) -> HttpResponse:
    length = len(ranged.layout)
    headers = {"Accept-Ranges": "bytes", "ETag": ranged.etag}
    byte_range = None
    header = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if header and (if_range is None or if_range == ranged.etag):  # a stale If-Range gets the whole new archive
        byte_range = parse_range(header, length)
        if byte_range is None:
            response = Response({"detail": "Requested range not satisfiable."}, status=416)
            response["Content-Range"] = f"bytes */{length}"
            return response
    first, last = byte_range if byte_range else (0, length - 1)
    headers["Content-Length"] = str(last - first + 1)
    status = 200
    if byte_range:
        status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{length}"
    body: Iterator[bytes] = iter(()) if request.method == "HEAD" else ranged.layout.chunks(first, last + 1)
    response = StreamingHttpResponse(
        _logged(body, ranged.directory), status=status, content_type="application/zip", headers=headers
    )
    return _attachment(response, ranged.directory)


def zip_response(request: Request) -> HttpResponse:
    frames, uncompress, catalog_only = selection(request)
    if request.method in ("GET", "HEAD") and not uncompress and not catalog_only:
        ranged = downloads.ranged_zip(frames)
        if ranged is not None:
            return _ranged_response(request, ranged)
    plan = downloads.zip_plan(frames, uncompress=uncompress, catalog_only=catalog_only)
    directory = plan.directory
    chunks = stream_zip(
        plan.members, missing_name=f"{directory}/MISSING.txt", sized=plan.length is not None, trailer=plan.trailer
    )
    response = StreamingHttpResponse(_logged(chunks, directory), content_type="application/zip")
    if plan.length is not None:
        response["Content-Length"] = str(plan.length)
    return _attachment(response, directory)


SCRIPT_HEAD = """#!/bin/sh
# Downloads {description} from {site}, one file at a time, as generated at {generated} UTC.
# Run it in the directory the files should go to: `sh {name}`. Files already here and whole are skipped, a
# file cut short is resumed (curl -C -), a damaged one fetched again, and every file is checked against its md5.
# The links expire at {expires} UTC; ask for a new script after that. Needs curl and md5sum.
set -u
failures=0
fetch() {{
    url=$1 name=$2 md5=$3 size=$4
    if [ -f "$name" ] && echo "$md5  $name" | md5sum -c --status - 2>/dev/null; then
        echo "ok      $name (already here)"
        return 0
    fi
    # A file of its full size (or more) that does not match is damaged: fetched again from its start.
    if [ -f "$name" ] && [ "$size" != "-" ] && [ "$(wc -c < "$name")" -ge "$size" ]; then
        rm -f "$name"
    fi
    if ! curl -fsS -C - -o "$name" "$url"; then
        echo "FAILED  $name (the download did not finish; run the script again to resume it)"
        failures=$((failures + 1))
        return 0
    fi
    if echo "$md5  $name" | md5sum -c --status -; then
        echo "ok      $name"
    else
        echo "FAILED  $name (its md5 does not match; it is removed, run the script again)"
        rm -f "$name"
        failures=$((failures + 1))
    fi
}}
"""
SCRIPT_TAIL = """
if [ "$failures" -gt 0 ]; then
    echo "$failures file(s) failed."
    exit 1
fi
echo "All files are here and match their md5."
"""


def _quoted(value: str) -> str:
    """`value` as one single-quoted shell word."""
    return "'" + value.replace("'", "'\"'\"'") + "'"


def download_script(request: Request, frames: Iterator[Frame], *, description: str) -> Iterator[str]:
    """The lines of a shell script that fetches every frame's current file and checks it."""
    links = DownloadLinks(request)
    now = datetime.datetime.now(datetime.UTC)
    expires = now + datetime.timedelta(seconds=settings.DOWNLOAD_URL_EXPIRY_SECONDS)
    yield SCRIPT_HEAD.format(
        description=description,
        site=request.build_absolute_uri("/"),
        generated=f"{now:%Y-%m-%d %H:%M}",
        expires=f"{expires:%Y-%m-%d %H:%M}",
        name=SCRIPT_NAME,
    )
    count = 0
    for frame in frames:
        version = downloads.current_version(frame)
        name = f"{frame.basename}{version.extension}"
        size = "-" if version.size is None else str(version.size)
        yield f"fetch {_quoted(links.version_url(frame, version))} {_quoted(name)} {version.md5} {size}\n"
        count += 1
    yield SCRIPT_TAIL
    yield f"# {count} files.\n"


SCRIPT_NAME = "archive-download.sh"


def script_response(request: Request) -> HttpResponse:
    """The download script of every visible frame the request's filters match, streamed as it is written."""
    params = request.query_params.copy()
    params.pop("format", None)
    frames = selectors.downloadable_frames(user=request.user, params=params)
    description = f"the frames matching ?{params.urlencode()}" if params else "every frame you may see"
    lines = download_script(request, frames, description=description)
    response = StreamingHttpResponse(lines, content_type="text/x-shellscript; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, SCRIPT_NAME)
    return response
