"""Shapes of frames: input validation of ingest bodies, and the JSON representations (docs/frames.md)."""

import datetime
import json
import math
import re
from decimal import Decimal, InvalidOperation

import orjson
from django.conf import settings
from django.contrib.gis.geos import GEOSException, GEOSGeometry
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from archive import configdb
from frames.models import Frame
from frames.values import normalise_longitude

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")
YYYYMMDD_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
ISO_DATETIME_RE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})(?:[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,9}))?)?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?$"
)

# --- value parsing shared by ingest and filters -----------------------------------------------------------------------


def parse_datetime_utc(value) -> datetime.datetime:
    """ISO 8601 with `T` or a space, optional seconds, fraction and zone; naive values are UTC."""
    if not isinstance(value, str):
        raise ValueError("not a string")
    match = ISO_DATETIME_RE.match(value.strip())
    if not match:
        raise ValueError("not an ISO 8601 date/time")
    date = datetime.date.fromisoformat(match["date"])
    fraction = (match["f"] or "0")[:6].ljust(6, "0")
    result = datetime.datetime(
        date.year,
        date.month,
        date.day,
        int(match["h"] or 0),
        int(match["m"] or 0),
        int(match["s"] or 0),
        int(fraction),
    )
    tz = match["tz"]
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return result.replace(tzinfo=datetime.timezone(sign * offset)).astimezone(datetime.UTC)
    return result.replace(tzinfo=datetime.UTC)


def parse_day(value) -> datetime.date:
    """`YYYY-MM-DD` or `YYYYMMDD`."""
    if not isinstance(value, str):
        raise ValueError("not a string")
    value = value.strip()
    match = YYYYMMDD_RE.match(value)
    if match:
        return datetime.date(int(match[1]), int(match[2]), int(match[3]))
    return datetime.date.fromisoformat(value)


def parse_integer(value) -> int:
    """An integer, or a numeric string such as "0000296263" or "296263.0"."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("not a whole number")
        return int(value)
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("not a number") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise ValueError("not a whole number")
        return int(number)
    raise ValueError("not a number")


def format_datetime(value: datetime.datetime | None) -> str | None:
    """ISO 8601 UTC with `Z`; microseconds only when non-zero."""
    if value is None:
        return None
    return value.astimezone(datetime.UTC).replace(tzinfo=None).isoformat() + "Z"


def format_millis(value: datetime.datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ`, the aggregates' `generated_at`."""
    value = value.astimezone(datetime.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def format_date(value: datetime.date | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- input fields -----------------------------------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.DATETIME)
class UTCDateTimeField(serializers.Field):
    default_error_messages = {"invalid": "Datetime has wrong format. Use ISO 8601, e.g. 2015-02-19T13:56:05.261Z."}

    def to_internal_value(self, data):
        try:
            return parse_datetime_utc(data)
        except (ValueError, OverflowError):
            self.fail("invalid")

    def to_representation(self, value):
        return format_datetime(value)


@extend_schema_field(OpenApiTypes.DATE)
class DayField(serializers.Field):
    default_error_messages = {"invalid": "Date has wrong format. Use YYYY-MM-DD or YYYYMMDD."}

    def to_internal_value(self, data):
        try:
            return parse_day(data)
        except (ValueError, OverflowError):
            self.fail("invalid")

    def to_representation(self, value):
        return format_date(value)


@extend_schema_field(OpenApiTypes.INT)
class LenientIntegerField(serializers.Field):
    """An integer given as a number or a numeric string; `null`, `""` become None when allowed."""

    default_error_messages = {"invalid": "A valid integer is required."}

    def __init__(self, *, min_value: int | None = None, max_value: int | None = None, **kwargs):
        self.min_value = min_value
        self.max_value = max_value
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if data == "" and self.allow_null:
            return (True, None)
        return super().validate_empty_values(data)

    def to_internal_value(self, data):
        try:
            number = parse_integer(data)
        except ValueError:
            self.fail("invalid")
        if self.min_value is not None and number < self.min_value:
            raise serializers.ValidationError(f"Ensure this value is greater than or equal to {self.min_value}.")
        if self.max_value is not None and number > self.max_value:
            raise serializers.ValidationError(f"Ensure this value is less than or equal to {self.max_value}.")
        return number

    def to_representation(self, value):
        return value


class LenientFloatField(serializers.FloatField):
    def validate_empty_values(self, data):
        if data == "" and self.allow_null:
            return (True, None)
        return super().validate_empty_values(data)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        return value


class NullAsBlankCharField(serializers.CharField):
    """A string where `null` means the empty string, as the ingester sends missing headers."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("required", False)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if data is None:
            return (True, "")
        return super().validate_empty_values(data)


@extend_schema_field(
    {
        "type": "object",
        "nullable": True,
        "description": "GeoJSON Polygon, positions [RA, Dec] in degrees",
        "properties": {
            "type": {"type": "string", "enum": ["Polygon"]},
            "coordinates": {
                "type": "array",
                "items": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
            },
        },
    }
)
class FootprintField(serializers.Field):
    """A GeoJSON Polygon in RA/Dec degrees; validated, and kept as posted for the echo of the response."""

    def to_internal_value(self, data):
        try:
            return validate_polygon(data)
        except ValueError as exc:
            raise serializers.ValidationError(f"Invalid polygon: {exc}") from None

    def to_representation(self, value):
        return value


def validate_polygon(data) -> dict:
    if not isinstance(data, dict) or data.get("type") != "Polygon":
        raise ValueError('a GeoJSON object of type "Polygon" is required.')
    rings = data.get("coordinates")
    if not isinstance(rings, list) or not rings:
        raise ValueError("coordinates must be a list of linear rings.")
    for ring in rings:
        if not isinstance(ring, list) or len(ring) < 4:
            raise ValueError("each ring needs at least 4 positions.")
        for position in ring:
            if (
                not isinstance(position, list | tuple)
                or len(position) < 2
                or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in position[:2])
            ):
                raise ValueError("each position must be [ra, dec] in degrees.")
            ra, dec = position[0], position[1]
            if not (math.isfinite(ra) and math.isfinite(dec)):
                raise ValueError("coordinates must be finite numbers.")
            if not -180 <= ra <= 360:
                raise ValueError(f"RA {ra} is outside [-180, 360].")
            if not -90 <= dec <= 90:
                raise ValueError(f"Dec {dec} is outside [-90, 90].")
        if list(ring[0][:2]) != list(ring[-1][:2]):
            raise ValueError("each ring must be closed (its first and last positions equal).")
    return {"type": "Polygon", "coordinates": [[[p[0], p[1]] for p in ring] for ring in rings]}


def footprint_geometry(polygon: dict | None) -> GEOSGeometry | None:
    """The stored geography of a validated footprint: longitudes normalised to [-180, 180]."""
    if polygon is None:
        return None
    stored = {
        "type": "Polygon",
        "coordinates": [[[normalise_longitude(ra), dec] for ra, dec in ring] for ring in polygon["coordinates"]],
    }
    try:
        geometry = GEOSGeometry(json.dumps(stored), srid=4326)
    except (GEOSException, ValueError) as exc:
        raise serializers.ValidationError({"area": [f"Invalid polygon: {exc}"]}) from None
    return geometry


def validate_basename(value: str) -> str:
    if "/" in value or "\\" in value or CONTROL_CHARS.search(value):
        raise serializers.ValidationError("A basename may not contain '/', '\\' or control characters.")
    return value


class VersionInputSerializer(serializers.Serializer):
    key = serializers.CharField(min_length=1, max_length=1024, trim_whitespace=False)
    md5 = serializers.CharField()
    extension = serializers.CharField(max_length=20, allow_blank=True, trim_whitespace=False)

    def validate_md5(self, value: str) -> str:
        if not MD5_RE.match(value):
            raise serializers.ValidationError("An md5 is 32 hexadecimal digits.")
        return value.lower()

    def validate_extension(self, value: str) -> str:
        if value and (not value.startswith(".") or "/" in value or "\\" in value):
            raise serializers.ValidationError("An extension is empty or starts with '.', without '/'.")
        return value


class ConfigurationTypeField(serializers.CharField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value == "" and self.allow_blank:
            return value
        if value not in configdb.configuration_types():
            raise serializers.ValidationError(f'"{value}" is not a valid choice.')
        return value


class FrameIngestSerializer(serializers.Serializer):
    """The body the ingester POSTs to /frames/ (21 keys); anything else is ignored."""

    basename = serializers.CharField(min_length=1, max_length=1000, trim_whitespace=False)
    version_set = VersionInputSerializer(many=True, allow_empty=True)
    headers = serializers.DictField()
    related_frame_filenames = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=1000),
        required=False,
        default=list,
    )
    area = FootprintField(required=False, allow_null=True)
    observation_date = UTCDateTimeField()
    public_date = UTCDateTimeField(required=False, allow_null=True)
    observation_day = DayField()
    reduction_level = LenientIntegerField(required=False, min_value=-32768, max_value=32767)
    observation_id = LenientIntegerField(required=False, allow_null=True, min_value=0, max_value=2**63 - 1)
    request_id = LenientIntegerField(required=False, allow_null=True, min_value=0, max_value=2**63 - 1)
    exposure_time = LenientFloatField(required=False, allow_null=True)
    configuration_type = ConfigurationTypeField(max_length=20, trim_whitespace=False)
    proposal_id = NullAsBlankCharField(max_length=200)
    instrument_id = NullAsBlankCharField(max_length=64)
    target_name = NullAsBlankCharField(max_length=200)
    site_id = NullAsBlankCharField(max_length=3)
    telescope_id = NullAsBlankCharField(max_length=4)
    primary_optical_element = NullAsBlankCharField(max_length=100)

    def validate_basename(self, value: str) -> str:
        return validate_basename(value)

    def validate_related_frame_filenames(self, value: list[str]) -> list[str]:
        names = {name.split(".", 1)[0] for name in value}
        names.discard("")
        for name in names:
            validate_basename(name)
        return sorted(names)

    def validate_version_set(self, value: list[dict]) -> list[dict]:
        unique: dict[str, dict] = {}
        for item in value:
            seen = unique.get(item["md5"])
            if seen is not None and seen != item:
                raise serializers.ValidationError("The same md5 is given twice with different keys.")
            unique[item["md5"]] = item
        return list(unique.values())

    def validate(self, attrs: dict) -> dict:
        related = attrs.get("related_frame_filenames")
        if related:
            attrs["related_frame_filenames"] = [name for name in related if name != attrs["basename"]]
        return attrs


class ThumbnailIngestSerializer(FrameIngestSerializer):
    """The ingester's thumbnail body: the thumbnail's own basename and file, and its parent frame."""

    frame_basename = serializers.CharField(min_length=1, max_length=1000, trim_whitespace=False)
    size = serializers.CharField()
    version_set = VersionInputSerializer(many=True, allow_empty=False)
    configuration_type = ConfigurationTypeField(max_length=20, trim_whitespace=False, allow_blank=True, required=False)

    def validate_frame_basename(self, value: str) -> str:
        return validate_basename(value)

    def validate_size(self, value: str) -> str:
        if value not in settings.THUMBNAIL_SIZE_CHOICES:
            raise serializers.ValidationError(f'"{value}" is not a valid choice.')
        return value


ONLY_FITS_FILES = "Only .fits and .fits.fz files can be uploaded."


class FrameUploadSerializer(serializers.Serializer):
    """A FITS file for server-side ingest (`POST /frames/upload/`), with optional keyword overrides."""

    file = serializers.FileField(help_text="The FITS file; its name ends .fits or .fits.fz")
    metadata = serializers.JSONField(
        required=False,
        help_text="A JSON object of FITS keywords and values that override the file's header (ocs_archive's "
        'file_metadata), e.g. {"OBJECT": "M84", "BLKUID": 53195954}',
    )
    dry_run = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Derive and check the record without storing anything: 200 {record, store_path}",
    )

    def validate_file(self, value):
        from frames.fitsmeta import is_fits_filename

        if not is_fits_filename(value.name):
            raise serializers.ValidationError(ONLY_FITS_FILES)
        return value

    def validate_metadata(self, value):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise serializers.ValidationError("metadata must be a JSON object of FITS keywords and values.")
        for keyword, item in value.items():
            if isinstance(item, dict | list):
                raise serializers.ValidationError(f"The value of {keyword} must be a string, number, boolean or null.")
        return value


# --- output representations ---------------------------------------------------------------------------------------

LEGACY_KEYS = (
    ("DATE_OBS", "observation_date"),
    ("DAY_OBS", "observation_day"),
    ("PROPID", "proposal_id"),
    ("INSTRUME", "instrument_id"),
    ("OBJECT", "target_name"),
    ("RLEVEL", "reduction_level"),
    ("SITEID", "site_id"),
    ("TELID", "telescope_id"),
    ("EXPTIME", "exposure_time"),
    ("FILTER", "primary_optical_element"),
    ("L1PUBDAT", "public_date"),
    ("OBSTYPE", "configuration_type"),
    ("BLKUID", "observation_id"),
    ("REQNUM", "request_id"),
)


def _area_geojson(frame: Frame) -> dict | None:
    if hasattr(frame, "area_geojson"):  # made by the database (FrameQuerySet.with_geojson)
        return orjson.loads(frame.area_geojson) if frame.area_geojson else None
    if frame.area is None:
        return None
    return orjson.loads(frame.area.geojson)


def _frame_fields(frame: Frame) -> dict:
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


def version_representation(version, url: str) -> dict:
    return {
        "id": version.id,
        "key": version.key,
        "md5": version.md5,
        "extension": version.extension,
        "url": url,
        "created": format_datetime(version.created),
    }


def _versions_and_url(frame: Frame, links) -> tuple[list[dict], str | None, str | None]:
    versions = [version_representation(v, links.version_url(frame, v)) for v in frame.prefetched_versions]
    if versions:
        current = frame.prefetched_versions[0]
        return versions, versions[0]["url"], f"{frame.basename}{current.extension}"
    return versions, None, None


def frame_representation(frame: Frame, links, *, include_related: bool = True, include_thumbnails: bool = False):
    """The list and detail item: built by hand from prefetched rows, not per-field DRF machinery."""
    fields = _frame_fields(frame)
    version_set, url, filename = _versions_and_url(frame, links)
    data = {"id": frame.id, "basename": frame.basename, **fields, "version_set": version_set}
    data["url"] = url
    data["filename"] = filename
    for legacy, name in LEGACY_KEYS:
        data[legacy] = fields[name]
    area = _area_geojson(frame)
    if area is not None:
        data["area"] = area
    if include_related:
        data["related_frames"] = frame.prefetched_related_ids
    if include_thumbnails:
        data["thumbnails"] = [thumbnail_representation(t, links) for t in frame.prefetched_thumbnails]
    return data


def frame_record(frame: Frame, links, *, area=Ellipsis) -> dict:
    """The record shape: ingest responses, related items, a thumbnail's frame."""
    version_set, url, filename = _versions_and_url(frame, links)
    return {
        "id": frame.id,
        "basename": frame.basename,
        "area": _area_geojson(frame) if area is Ellipsis else area,
        "related_frames": frame.prefetched_related_ids,
        "version_set": version_set,
        "filename": filename,
        "url": url,
        **_frame_fields(frame),
    }


def thumbnail_representation(thumbnail, links) -> dict:
    return {
        "id": thumbnail.id,
        "frame": thumbnail.frame_id,
        "size": thumbnail.size,
        "basename": thumbnail.basename,
        "extension": thumbnail.extension,
        "key": thumbnail.key,
        "url": links.thumbnail_url(thumbnail),
    }


# --- zip downloads --------------------------------------------------------------------------------------------------

FRAME_IDS_KEY = re.compile(r"^frame_ids(\[\d*\])?$")


class ZipRequestSerializer(serializers.Serializer):
    """The zip request as JSON, or as the web client's form (`frame_ids[0]`, `frame_ids[1]`, ...)."""

    frame_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=False)
    uncompress = serializers.BooleanField(required=False, default=False)
    catalog_only = serializers.BooleanField(required=False, default=False)
    auth_token = serializers.CharField(required=False, allow_blank=True)

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):  # a form: gather the indexed, bracketed and repeated frame_ids in order
            ids = []
            for key in data:
                if FRAME_IDS_KEY.match(key):
                    ids.extend(data.getlist(key))
            plain = {key: data.get(key) for key in data if not FRAME_IDS_KEY.match(key)}
            data = {**plain, "frame_ids": ids}
        ids = data.get("frame_ids") if isinstance(data, dict) else None
        if isinstance(ids, list) and len(ids) > settings.ZIP_DOWNLOAD_MAX_FILES:
            # Refused before each id is parsed: the list is bounded by the count, not only by the body's size.
            raise serializers.ValidationError({"non_field_errors": [self._too_many()]})
        return super().to_internal_value(data)

    @staticmethod
    def _too_many() -> str:
        return (
            f"A maximum of {settings.ZIP_DOWNLOAD_MAX_FILES} frames can be downloaded in one zip file. "
            "Please try again with fewer frame_ids."
        )

    def validate(self, attrs):
        given = len(attrs["frame_ids"])
        if given > settings.ZIP_DOWNLOAD_MAX_FILES:
            raise serializers.ValidationError(self._too_many())
        if attrs["uncompress"] and given > settings.ZIP_DOWNLOAD_MAX_UNCOMPRESSED_FILES:
            raise serializers.ValidationError(
                f"A maximum of {settings.ZIP_DOWNLOAD_MAX_UNCOMPRESSED_FILES} frames can be downloaded with the "
                "uncompress flag. Please try again with fewer frame_ids."
            )
        attrs["frame_ids"] = list(dict.fromkeys(attrs["frame_ids"]))  # duplicates collapse, order kept
        return attrs
