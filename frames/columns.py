"""The one table of a frame's descriptive fields, from which every other list of them is derived.

Each field is a column of `Frame`, a key of the ingest body and of the JSON shapes, and is read from one FITS
keyword. The reference clients also know each field by its keyword (with `_` for `-`: `DATE_OBS`), so that name is
both a legacy key of the list items and a query parameter. A field whose distinct values the aggregates list names
that list. Identifiers and integers are matched exactly by the list filters, under both names.
"""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FrameField:
    name: str
    keyword: str
    default: Any  # the value of a new row (or an ingest from FITS) that leaves the field out
    # "datetime", "date", "number", "integer", "identifier" (matched exactly, any of several values) or "text"
    kind: str
    aggregate: str | None = None

    @property
    def legacy(self) -> str:
        """The field's other name in the JSON items and query parameters."""
        return self.keyword.replace("-", "_")


FRAME_FIELDS: tuple[FrameField, ...] = (
    FrameField("observation_date", "DATE-OBS", None, "datetime"),
    FrameField("observation_day", "DAY-OBS", None, "date"),
    FrameField("proposal_id", "PROPID", "", "identifier", aggregate="proposals"),
    FrameField("instrument_id", "INSTRUME", "", "identifier", aggregate="instruments"),
    FrameField("target_name", "OBJECT", "", "text"),
    FrameField("reduction_level", "RLEVEL", 0, "integer"),
    FrameField("site_id", "SITEID", "", "identifier", aggregate="sites"),
    FrameField("telescope_id", "TELID", "", "identifier", aggregate="telescopes"),
    FrameField("exposure_time", "EXPTIME", None, "number"),
    FrameField("primary_optical_element", "FILTER", "", "identifier", aggregate="filters"),
    FrameField("public_date", "L1PUBDAT", None, "datetime"),
    FrameField("configuration_type", "OBSTYPE", "", "identifier", aggregate="obstypes"),
    FrameField("observation_id", "BLKUID", None, "integer"),
    FrameField("request_id", "REQNUM", None, "integer"),
)
FIELD_NAMES: tuple[str, ...] = tuple(field.name for field in FRAME_FIELDS)
# (legacy key, field name) of every field: the items' second spelling of each value.
LEGACY_KEYS: tuple[tuple[str, str], ...] = tuple((field.legacy, field.name) for field in FRAME_FIELDS)
# The ingest body's fields and the keywords they are read from, with the value of a missing one.
FIELD_KEYWORDS: dict[str, tuple[str, Any]] = {field.name: (field.keyword, field.default) for field in FRAME_FIELDS}
# Each list of an aggregate and the column it holds the distinct values of.
AGGREGATE_COLUMNS: dict[str, str] = {field.aggregate: field.name for field in FRAME_FIELDS if field.aggregate}
