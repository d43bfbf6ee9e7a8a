"""Exports of a search: `GET /frames/?<filters>&format=csv` (or `ecsv`) streams every matching frame the caller may
see, not one page, walked by keyset a batch at a time so that memory does not grow with the number of rows
(docs/frames.md, "Exports").

ECSV is CSV with a header that says each column's type (astropy's `Table.read(..., format="ascii.ecsv")` reads it).
"""

import csv
import io
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from frames import selectors
from frames.columns import FRAME_FIELDS
from frames.models import Frame
from frames.values import format_date, format_datetime

EXPORT_FORMATS = ("csv", "ecsv")
COLUMNS = ("id", "basename", *(field.name for field in FRAME_FIELDS), "filename")
# ECSV datatypes of the table's kinds of field.
ECSV_TYPES = {
    "datetime": "string",
    "date": "string",
    "identifier": "string",
    "text": "string",
    "integer": "int64",
    "number": "float64",
}


class ExportRenderer(BaseRenderer):
    """Lets content negotiation accept `format=csv` and `format=ecsv` on the frames list, which answers with a
    streamed response of its own; anything else rendered in these formats is an error's JSON."""

    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        import json

        return json.dumps(data, default=str).encode()


class CSVRenderer(ExportRenderer):
    media_type = "text/csv"
    format = "csv"


class ECSVRenderer(ExportRenderer):
    media_type = "text/x-ecsv"
    format = "ecsv"


def _row(frame: Frame) -> list:
    values: list = [frame.id, frame.basename]
    for field in FRAME_FIELDS:
        value = getattr(frame, field.name)
        if field.kind == "datetime":
            value = format_datetime(value)
        elif field.kind == "date":
            value = format_date(value)
        values.append(value)
    version = frame.prefetched_versions[0] if frame.prefetched_versions else None
    values.append(f"{frame.basename}{version.extension}" if version else None)
    return values


def _csv_lines(rows: Iterable[list]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _ecsv_header() -> str:
    kinds = {"id": "integer", "basename": "text", "filename": "text"} | {f.name: f.kind for f in FRAME_FIELDS}
    lines = ["# %ECSV 1.0", "# ---", "# delimiter: ','", "# datatype:"]
    for name in COLUMNS:
        lines.append(f"# - {{name: {name}, datatype: {ECSV_TYPES[kinds[name]]}}}")
    lines.append("# schema: astropy-2.0")
    return "\n".join(lines) + "\n"


def export_response(request: Request, export_format: str) -> StreamingHttpResponse:
    """Every visible frame matching the request's filters, newest first, as CSV or ECSV."""
    params = request.query_params.copy()
    for name in ("format", "limit", "offset", "cursor", "pagination_style", "ordering"):
        params.pop(name, None)
    frames = selectors.downloadable_frames(user=request.user, params=params)

    def lines() -> Iterator[str]:
        if export_format == "ecsv":
            yield _ecsv_header()
        yield from _csv_lines([list(COLUMNS)])
        yield from _csv_lines(_row(frame) for frame in frames)

    media_type = ECSVRenderer.media_type if export_format == "ecsv" else CSVRenderer.media_type
    response = StreamingHttpResponse(lines(), content_type=f"{media_type}; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, f"frames.{export_format}")
    return response
