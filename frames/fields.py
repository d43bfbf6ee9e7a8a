"""Serializer fields of the frames app's shapes: datetimes and days as the clients write them, lenient numbers, and
the sky footprint as a GeoJSON Polygon (validated, and converted to the stored geography)."""

import json
import math
import re

from django.contrib.gis.geos import GEOSException, GEOSGeometry
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from archive import configdb
from frames.values import (
    format_date,
    format_datetime,
    normalise_longitude,
    parse_datetime_utc,
    parse_day,
    parse_integer,
)

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


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


class ConfigurationTypeField(serializers.CharField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value == "" and self.allow_blank:
            return value
        if value not in configdb.configuration_types():
            raise serializers.ValidationError(f'"{value}" is not a valid choice.')
        return value
