"""Exports of a search: `GET /frames/?<filters>&format=csv` (or `ecsv`, `votable`) streams every matching frame the
caller may see, not one page, walked by keyset a batch at a time so that memory does not grow with the number of rows
(docs/frames.md, "Exports").

ECSV is CSV with a header that says each column's type (astropy's `Table.read(..., format="ascii.ecsv")` reads it);
the VOTable is written row by row by the VO services' writer (`vo.votable`), so TOPCAT opens a search directly.
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
from vo import votable
from vo.obscore import Column

EXPORT_FORMATS = ("csv", "ecsv", "votable")
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


class VOTableRenderer(ExportRenderer):
    media_type = "application/x-votable+xml"
    format = "votable"


# The VOTable's columns: datatype and UCD of each kind of field, and of the columns around them.
VOTABLE_KINDS = {
    "datetime": ("char", "time.epoch"),
    "date": ("char", "time.epoch"),
    "identifier": ("char", "meta.id"),
    "text": ("char", "meta.id"),
    "integer": ("long", "meta.id"),
    "number": ("double", "time.duration;obs.exposure"),
}


# Positions of the datetime columns in a row: DALI timestamps carry no zone letter (they are UTC by definition).
_DATETIME_POSITIONS = [2 + index for index, field in enumerate(FRAME_FIELDS) if field.kind == "datetime"]


def _votable_row(frame: Frame) -> list:
    row = _row(frame)
    for position in _DATETIME_POSITIONS:
        if row[position] is not None:
            row[position] = row[position].removesuffix("Z")
    return row


def _votable_columns() -> list[Column]:
    columns = [Column("id", "long", "meta.id", "The frame's id in the archive")]
    columns.append(Column("basename", "char", "meta.id;meta.file", "The file name up to its first '.'"))
    for field in FRAME_FIELDS:
        datatype, ucd = VOTABLE_KINDS[field.kind]
        unit = "s" if field.name == "exposure_time" else ""
        xtype = "timestamp" if field.kind == "datetime" else ""
        columns.append(Column(field.name, datatype, ucd, f"FITS keyword {field.keyword}", unit=unit, xtype=xtype))
    columns.append(Column("filename", "char", "meta.id;meta.file", "The current file's name"))
    return columns


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
        if export_format == "votable":
            rows = (_votable_row(frame) for frame in frames)
            yield from votable.table(_votable_columns(), rows, status="OK", coosys=False)
            return
        if export_format == "ecsv":
            yield _ecsv_header()
        yield from _csv_lines([list(COLUMNS)])
        yield from _csv_lines(_row(frame) for frame in frames)

    media_type = {"csv": CSVRenderer, "ecsv": ECSVRenderer, "votable": VOTableRenderer}[export_format].media_type
    response = StreamingHttpResponse(lines(), content_type=f"{media_type}; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, f"frames.{export_format}")
    return response
