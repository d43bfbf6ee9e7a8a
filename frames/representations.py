"""The JSON shapes the frames API answers with, as DRF serializers with declared fields (docs/frames.md,
"Representations").

The declared fields describe every key (the OpenAPI schema, the browsable API and OPTIONS are made from them) and
produce the same JSON through DRF's generic `to_representation`; a test holds the two equal for every shape. The
serializers of frames, versions and thumbnails answer through the hand-written functions below instead: measured on
a page of 100 frames (`python -m bench.shapes`), DRF's per-field path took 51 ms against their 4 ms, more than a
list page's whole time otherwise.

What a shape needs besides the row comes from the serializer's context: `links` (a `frames.links.DownloadLinks` for
the request) and, for list items, `include_related` and `include_thumbnails`.
"""

import orjson
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from frames.columns import AGGREGATE_COLUMNS, FRAME_FIELDS, LEGACY_KEYS, FrameField
from frames.fields import DayField, UTCDateTimeField
from frames.models import Frame
from frames.values import format_date, format_datetime

GEOJSON_POLYGON = {
    "type": "object",
    "description": "The sky footprint: a GeoJSON Polygon, positions [longitude, Dec] in degrees, longitude = RA "
    "mapped to [-180, 180]",
    "properties": {
        "type": {"type": "string", "enum": ["Polygon"]},
        "coordinates": {
            "type": "array",
            "items": {"type": "array", "items": {"type": "array", "items": {"type": "number"}, "minItems": 2}},
        },
    },
}


# --- fast paths -------------------------------------------------------------------------------------------------------


def area_geojson(frame: Frame) -> dict | None:
    if hasattr(frame, "area_geojson"):  # made by the database (FrameQuerySet.with_geojson)
        return orjson.loads(frame.area_geojson) if frame.area_geojson else None
    if frame.area is None:
        return None
    return orjson.loads(frame.area.geojson)


def _field_values(frame: Frame) -> dict:
    return {
        "observation_date": format_datetime(frame.observation_date),
        "observation_day": format_date(frame.observation_day),
        "proposal_id": frame.proposal_id,
        "instrument_id": frame.instrument_id,
        "target_name": frame.target_name,
        "reduction_level": frame.reduction_level,
        "site_id": frame.site_id,
        "telescope_id": frame.telescope_id,
        "exposure_time": frame.exposure_time,
        "primary_optical_element": frame.primary_optical_element,
        "public_date": format_datetime(frame.public_date),
        "configuration_type": frame.configuration_type,
        "observation_id": frame.observation_id,
        "request_id": frame.request_id,
    }


def version_item(version, url: str) -> dict:
    return {
        "id": version.id,
        "key": version.key,
        "md5": version.md5,
        "extension": version.extension,
        "url": url,
        "created": format_datetime(version.created),
    }


def _versions_and_url(frame: Frame, links) -> tuple[list[dict], str | None, str | None]:
    versions = [version_item(v, links.version_url(frame, v)) for v in frame.prefetched_versions]
    if versions:
        current = frame.prefetched_versions[0]
        return versions, versions[0]["url"], f"{frame.basename}{current.extension}"
    return versions, None, None


def thumbnail_item(thumbnail, links) -> dict:
    return {
        "id": thumbnail.id,
        "frame": thumbnail.frame_id,
        "size": thumbnail.size,
        "basename": thumbnail.basename,
        "extension": thumbnail.extension,
        "key": thumbnail.key,
        "url": links.thumbnail_url(thumbnail),
    }


def frame_item(frame: Frame, links, *, include_related: bool = True, include_thumbnails: bool = False) -> dict:
    """A list or detail item, from a frame with its related rows attached (`frames.selectors.attach_related`)."""
    fields = _field_values(frame)
    version_set, url, filename = _versions_and_url(frame, links)
    data = {"id": frame.id, "basename": frame.basename, **fields, "version_set": version_set}
    data["url"] = url
    data["filename"] = filename
    for legacy, name in LEGACY_KEYS:
        data[legacy] = fields[name]
    area = area_geojson(frame)
    if area is not None:
        data["area"] = area
    if include_related:
        data["related_frames"] = frame.prefetched_related_ids
    if include_thumbnails:
        data["thumbnails"] = [thumbnail_item(t, links) for t in frame.prefetched_thumbnails]
    return data


def frame_record(frame: Frame, links, *, area=Ellipsis) -> dict:
    """The record shape: ingest responses, related frames, a new thumbnail's frame. `area` replaces the stored
    footprint with the one posted (the echo the ingester gets)."""
    version_set, url, filename = _versions_and_url(frame, links)
    return {
        "id": frame.id,
        "basename": frame.basename,
        "area": area_geojson(frame) if area is Ellipsis else area,
        "related_frames": frame.prefetched_related_ids,
        "version_set": version_set,
        "filename": filename,
        "url": url,
        **_field_values(frame),
    }


# --- declared fields --------------------------------------------------------------------------------------------------

KIND_FIELDS = {
    "datetime": UTCDateTimeField,
    "date": DayField,
    "identifier": serializers.CharField,
    "text": serializers.CharField,
    "integer": serializers.IntegerField,
    "number": serializers.FloatField,
}


def _table_field(field: FrameField, *, legacy: bool = False) -> serializers.Field:
    model_field = Frame._meta.get_field(field.name)
    kwargs = {"read_only": True, "allow_null": model_field.null, "help_text": str(model_field.help_text or "")}
    if legacy:
        kwargs |= {"source": field.name, "help_text": f"The same as {field.name}"}
    return KIND_FIELDS[field.kind](**kwargs)


def _declared(name: str, fields: dict[str, serializers.Field], doc: str) -> type[serializers.Serializer]:
    """A serializer class whose fields come from a table rather than from class attributes."""
    attrs = {"__module__": __name__, "__doc__": doc, **fields}
    return serializers.SerializerMetaclass(name, (serializers.Serializer,), attrs)


FrameFieldsSerializer = _declared(
    "FrameFieldsSerializer",
    {field.name: _table_field(field) for field in FRAME_FIELDS},
    "A frame's descriptive fields (frames.columns), under their names.",
)
LegacyFieldsSerializer = _declared(
    "LegacyFieldsSerializer",
    {field.legacy: _table_field(field, legacy=True) for field in FRAME_FIELDS},
    "The same fields under the FITS keywords the reference clients know them by.",
)


class VersionSerializer(serializers.Serializer):
    """A stored file version of a frame, newest first in `version_set`; `url` is signed and expires."""

    id = serializers.IntegerField(read_only=True)
    key = serializers.CharField(read_only=True, help_text="The store's object version id")
    md5 = serializers.CharField(read_only=True)
    extension = serializers.CharField(read_only=True, help_text='".fits.fz", ".fits", ".tar.gz", ...')
    url = serializers.SerializerMethodField(help_text="A download URL valid for DOWNLOAD_URL_EXPIRY_SECONDS")
    created = UTCDateTimeField(read_only=True)

    def get_url(self, version) -> str:
        return self.context["links"].version_url(version.frame, version)

    def to_representation(self, instance):
        return version_item(instance, self.get_url(instance))


class ThumbnailSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    frame = serializers.IntegerField(source="frame_id", read_only=True, help_text="The id of the frame it shows")
    size = serializers.CharField(read_only=True, help_text='"small", "medium" or "large"')
    basename = serializers.CharField(read_only=True)
    extension = serializers.CharField(read_only=True)
    key = serializers.CharField(read_only=True)
    url = serializers.SerializerMethodField(help_text="A download URL valid for DOWNLOAD_URL_EXPIRY_SECONDS")

    def get_url(self, thumbnail) -> str:
        return self.context["links"].thumbnail_url(thumbnail)

    def to_representation(self, instance):
        return thumbnail_item(instance, self.context["links"])


@extend_schema_field(VersionSerializer(many=True))
class VersionSetField(serializers.Field):
    """The frame's versions, newest first (the frame is their parent: their URLs name its basename)."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, value):
        return _versions_and_url(value, self.context["links"])[0]


@extend_schema_field({"type": "string", "nullable": True, "description": "The current version's download URL"})
class CurrentUrlField(VersionSetField):
    def to_representation(self, value):
        return _versions_and_url(value, self.context["links"])[1]


@extend_schema_field({"type": "string", "nullable": True, "description": "basename + the current extension"})
class FilenameField(VersionSetField):
    def to_representation(self, value):
        return _versions_and_url(value, self.context["links"])[2]


@extend_schema_field({**GEOJSON_POLYGON, "nullable": True})
class AreaField(serializers.Field):
    def __init__(self, **kwargs):
        super().__init__(source="*", **kwargs)

    def to_representation(self, value):
        return area_geojson(value)


def _related_ids(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.IntegerField(),
        source="prefetched_related_ids",
        help_text="Ids of the frame's related (calibration) frames",
        **kwargs,
    )


class FrameRecordSerializer(FrameFieldsSerializer):
    """A frame as an ingest answers it (and as /related/ lists them): `area` always present, null without one."""

    id = serializers.IntegerField(read_only=True)
    basename = serializers.CharField(read_only=True)
    area = AreaField(read_only=True)
    related_frames = _related_ids(read_only=True)
    version_set = VersionSetField()
    filename = FilenameField()
    url = CurrentUrlField()

    def to_representation(self, instance):
        return frame_record(instance, self.context["links"], **self.context.get("record_overrides", {}))


class FrameSerializer(FrameFieldsSerializer, LegacyFieldsSerializer):
    """A frame in a list or on its own. `area` is left out when the frame has no footprint, `related_frames` with
    `include_related_frames=false`; `thumbnails` comes with `include_thumbnails=true`."""

    id = serializers.IntegerField(read_only=True)
    basename = serializers.CharField(read_only=True, help_text="The file name up to its first '.'")
    version_set = VersionSetField()
    url = CurrentUrlField()
    filename = FilenameField()
    # Keys that are not always present: declared as not required (and not read-only, which would make them required).
    area = AreaField(required=False)
    related_frames = _related_ids(required=False)
    thumbnails = ThumbnailSerializer(many=True, source="prefetched_thumbnails", required=False)

    def to_representation(self, instance):
        context = self.context
        return frame_item(
            instance,
            context["links"],
            include_related=context.get("include_related", True),
            include_thumbnails=context.get("include_thumbnails", False),
        )


class FrameHeadersSerializer(serializers.Serializer):
    data = serializers.DictField(read_only=True, help_text="The FITS header as keyword: value")


class ThumbnailCreatedSerializer(serializers.Serializer):
    """What a thumbnail's ingest answers: the thumbnail, with its frame as a record."""

    id = serializers.IntegerField(read_only=True)
    frame = FrameRecordSerializer(read_only=True)
    size = serializers.CharField(read_only=True)
    basename = serializers.CharField(read_only=True)
    url = serializers.CharField(read_only=True)
    key = serializers.CharField(read_only=True)
    extension = serializers.CharField(read_only=True)


AggregateSerializer = _declared(
    "AggregateSerializer",
    {
        **{
            name: serializers.ListField(
                child=serializers.CharField(), read_only=True, help_text=f"Distinct values of {column}"
            )
            for name, column in AGGREGATE_COLUMNS.items()
        },
        "generated_at": serializers.CharField(read_only=True, help_text="When the values were gathered (UTC)"),
    },
    "Distinct values of the searchable columns among the frames the caller may see.",
)


class DryRunSerializer(serializers.Serializer):
    record = serializers.DictField(read_only=True, help_text="The body an ingest of the file would post")
    store_path = serializers.CharField(read_only=True, help_text="Where the file would be stored")


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField(read_only=True)
    frame = serializers.IntegerField(read_only=True, help_text="The id of the frame already archived")


class DownloadSummarySerializer(serializers.Serializer):
    count = serializers.IntegerField(read_only=True, help_text="Frames the filters match that the caller may see")
    bytes = serializers.IntegerField(read_only=True, help_text="Bytes of their current files whose size is known")
    unknown_sizes = serializers.IntegerField(read_only=True, help_text="How many of those sizes are not known yet")
