"""Query parameters of /frames/, /versions/ and /thumbnails/, as django-filter FilterSets."""

import json
import math

import django_filters
from anyascii import anyascii
from django import forms
from django.conf import settings
from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry, Point
from django.db.models import BooleanField, F, Func, Value
from django.utils.datastructures import MultiValueDict

from archive import configdb
from archive.params import parse_flag
from frames.columns import FRAME_FIELDS
from frames.models import Frame, Thumbnail, Version, thumbnail_size_choices
from frames.values import normalise_longitude, parse_datetime_utc

# PostGIS measures geography distances on a sphere of this radius (metres) when use_spheroid is false.
SPHERE_RADIUS_M = 6371008.771415


class DWithinSphere(Func):
    """ST_DWithin(area, point, metres, false): on the sphere PostGIS itself uses, answered through the GiST index."""

    function = "ST_DWithin"
    template = "%(function)s(%(expressions)s, false)"
    output_field = BooleanField()


def cone_condition(ra: float, dec: float, radius_degrees: float, field: str = "area") -> DWithinSphere:
    """Rows whose geography `field` comes within `radius_degrees` (a great-circle angle) of (ra, dec)."""
    centre = Point(normalise_longitude(ra), dec, srid=4326)
    metres = radius_degrees * 3.141592653589793 / 180 * SPHERE_RADIUS_M
    return DWithinSphere(F(field), Func(Value(centre.ewkt), function="ST_GeogFromText"), Value(metres))


class RepeatedValuesWidget(forms.TextInput):
    """Every value of a repeated parameter (`?site_id=ogg&site_id=coj`)."""

    def value_from_datadict(self, data, files, name):
        if isinstance(data, MultiValueDict):
            return [value for value in data.getlist(name) if value != ""]
        value = data.get(name)
        return [value] if value not in (None, "") else []


class AnyOfField(forms.Field):
    """A list of values, each cleaned by `base_field`."""

    widget = RepeatedValuesWidget

    def __init__(self, *args, base_field: forms.Field, **kwargs):
        self.base_field = base_field
        super().__init__(*args, **kwargs)

    def clean(self, value):
        values = [self.base_field.clean(item) for item in value or []]
        return values or None


class AnyOfFilter(django_filters.Filter):
    """An exact match where repeating the parameter means "any of" (the reference kept only the last value)."""

    def __init__(self, *args, base_field_class=forms.CharField, transform=None, **kwargs):
        self.base_field_class = base_field_class
        self.transform = transform
        super().__init__(*args, **kwargs)

    @property
    def field(self):
        if not hasattr(self, "_field"):
            self._field = AnyOfField(base_field=self.base_field_class(), required=False, label=self.label)
        return self._field

    def filter(self, qs, value):
        if not value:
            return qs
        if self.transform:
            value = [self.transform(item) for item in value]
        if len(value) == 1:
            return qs.filter(**{self.field_name: value[0]})
        return qs.filter(**{f"{self.field_name}__in": value})


class IntegerValueField(forms.IntegerField):
    """An integer whose error is django-filter's NumberFilter message, as the reference answered."""

    default_error_messages = {"invalid": "Enter a number."}


def _ascii(value: str) -> str:
    return anyascii(value)


class DayFilter(django_filters.DateFilter):
    field_class = forms.DateField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("input_formats", ["%Y-%m-%d", "%Y%m%d"])
        super().__init__(*args, **kwargs)


class ConfigurationTypesFilter(django_filters.MultipleChoiceFilter):
    """Multi-valued configuration types, validated against configdb's list (lazily, not at import)."""

    def __init__(self, *args, exclude_values: bool = False, **kwargs):
        kwargs.setdefault("field_name", "configuration_type")
        super().__init__(*args, **kwargs)
        self.exclude_values = exclude_values

    @property
    def field(self):
        field = super().field
        field.choices = [(value, value) for value in sorted(configdb.configuration_types())]
        return field

    def filter(self, qs, value):
        if not value:
            return qs
        lookup = {f"{self.field_name}__in": list(value)}
        return qs.exclude(**lookup) if self.exclude_values else qs.filter(**lookup)


def _parse_geometry(value: str, name: str, *, kinds: tuple[str, ...] | None = None, message: str = "") -> GEOSGeometry:
    """A query geometry in WKT (or GeoJSON, read into the very same geometry), RA normalised as footprints are.

    Empty geometries, non-finite coordinates and invalid shapes are refused with a message, never passed to PostGIS.
    """
    text = value.strip()
    try:
        if text.startswith("{"):
            geometry = GEOSGeometry(json.dumps(json.loads(text)))
            geometry.srid = 4326
        else:
            geometry = GEOSGeometry(text, srid=4326)
    except (GEOSException, GDALException, ValueError, TypeError) as exc:
        raise forms.ValidationError(message or f"Error with {name} query: {exc}") from None
    if kinds is not None and geometry.geom_type not in kinds:
        raise forms.ValidationError(message or f"Error with {name} query: a {geometry.geom_type} is not accepted")
    if geometry.empty:
        raise forms.ValidationError(message or f"Error with {name} query: the geometry is empty")
    if not all(math.isfinite(number) for number in _numbers(geometry.coords)):
        raise forms.ValidationError(message or f"Error with {name} query: coordinates must be finite numbers")
    if not geometry.valid:
        raise forms.ValidationError(message or f"Error with {name} query: {geometry.valid_reason}")
    return _normalise_geometry(geometry)


def _numbers(coords):
    for item in coords:
        if isinstance(item, tuple | list):
            yield from _numbers(item)
        else:
            yield item


def _normalise_geometry(geometry: GEOSGeometry) -> GEOSGeometry:
    """Query RA in [0, 360] or [-180, 180] maps to longitude in [-180, 180], as stored footprints are."""
    if geometry.geom_type == "Point":
        return Point(normalise_longitude(geometry.x), geometry.y, srid=4326)
    if geometry.geom_type == "Polygon":
        rings = [[(normalise_longitude(x), y) for x, y, *_ in ring] for ring in geometry.coords]
        return GEOSGeometry(
            "POLYGON(" + ",".join("(" + ",".join(f"{x!r} {y!r}" for x, y in ring) + ")" for ring in rings) + ")",
            srid=4326,
        )
    return geometry


class FlagField(forms.CharField):
    """A boolean parameter in any spelling of true or false (archive.params); anything else is refused."""

    def clean(self, value):
        try:
            return parse_flag(super().clean(value))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class FlagFilter(django_filters.Filter):
    field_class = FlagField


class UTCDateTimeField(forms.DateTimeField):
    """An ISO 8601 date and time (frames.values.parse_datetime_utc, as the ingest reads them), held in UTC; one whose
    zone puts it outside the calendar (year 1 or 9999 with an offset) is a clear 400, not a failure deep in the
    database adapter."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_datetime_utc(value)
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        except OverflowError:
            raise forms.ValidationError(f"{value!r} is outside the dates the archive can represent.") from None


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField


class CoversField(forms.CharField):
    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        return _parse_geometry(
            value,
            "covers",
            kinds=("Point", "Polygon"),
            message="Error with covers query: Point must be specified with exact format 'POINT(RA DEC)'",
        )


class IntersectsField(forms.CharField):
    def clean(self, value):
        value = super().clean(value)
        return _parse_geometry(value, "intersects") if value else None


class CoversFilter(django_filters.Filter):
    field_class = CoversField


class IntersectsFilter(django_filters.Filter):
    field_class = IntersectsField


class FrameFilterSet(django_filters.FilterSet):
    start = UTCDateTimeFilter(field_name="observation_date", lookup_expr="gte")
    end = UTCDateTimeFilter(field_name="observation_date", lookup_expr="lte")
    DATE_OBS = UTCDateTimeFilter(field_name="observation_date")
    L1PUBDAT = UTCDateTimeFilter(field_name="public_date")
    DAY_OBS = DayFilter(field_name="observation_day")
    dayobs = DayFilter(field_name="observation_day")
    basename = django_filters.CharFilter(field_name="basename", lookup_expr="icontains")
    basename_exact = AnyOfFilter(field_name="basename")
    OBJECT = django_filters.CharFilter(field_name="target_name", lookup_expr="icontains")
    target_name = django_filters.CharFilter(method="filter_target_name")
    target_name_exact = AnyOfFilter(field_name="target_name", transform=_ascii)
    empty_target_name = django_filters.CharFilter(method="filter_empty_target_name")
    EXPTIME = django_filters.NumberFilter(field_name="exposure_time", lookup_expr="gte")
    exposure_time = django_filters.NumberFilter(field_name="exposure_time", lookup_expr="gte")
    exclude_OBSTYPE = ConfigurationTypesFilter(exclude_values=True)
    exclude_configuration_type = ConfigurationTypesFilter(exclude_values=True)
    include_configuration_type = ConfigurationTypesFilter()
    exclude_calibrations = FlagFilter(method="filter_exclude_calibrations")
    submitter = django_filters.CharFilter(method="filter_submitter")
    covers = CoversFilter(field_name="area", lookup_expr="covers")
    intersects = IntersectsFilter(field_name="area", lookup_expr="intersects")
    ra = django_filters.NumberFilter(method="filter_noop")
    dec = django_filters.NumberFilter(method="filter_noop")
    radius = django_filters.NumberFilter(method="filter_noop")

    class Meta:
        model = Frame
        fields: list[str] = []

    def filter_target_name(self, qs, name, value):
        return qs.filter(target_name__icontains=anyascii(value)) if value else qs

    def filter_empty_target_name(self, qs, name, value):
        return qs.filter(target_name="")

    def filter_exclude_calibrations(self, qs, name, value):
        return qs.filter(configuration_type__in=settings.SCIENCE_CONFIGURATION_TYPES) if value else qs

    def filter_submitter(self, qs, name, value):
        return qs.filter(headers__data__USERID=anyascii(value)) if value else qs

    def filter_noop(self, qs, name, value):
        return qs

    # The cone's three parameters are validated together, so they are always part of the form.
    ALWAYS = frozenset({"ra", "dec", "radius"})

    def __init__(self, data=None, *args, **kwargs):
        # A request names a handful of the ~50 parameters: copy and validate only those (django-filter deep-copies
        # every declared filter and builds a form field for each, a tenth of a list page). Absent ones filter
        # nothing, so the result is the same.
        if data is not None:
            present = {key.removesuffix("[]") for key in data} | self.ALWAYS
            self.base_filters = {name: f for name, f in type(self).base_filters.items() if name in present}
        super().__init__(data, *args, **kwargs)

    def is_valid(self):
        valid = super().is_valid()
        if valid:
            self._validate_cone()
        return valid and not self.form.errors

    def _validate_cone(self):
        data = self.form.cleaned_data
        given = [data.get(name) is not None for name in ("ra", "dec", "radius")]
        if not any(given):
            return
        if not all(given):
            self.form.add_error(None, "ra, dec and radius must be given together.")
            return
        max_radius = settings.CONE_SEARCH_MAX_RADIUS_DEGREES
        if not -180 <= data["ra"] <= 360:
            self.form.add_error("ra", "ra must be between -180 and 360 degrees.")
        if not -90 <= data["dec"] <= 90:
            self.form.add_error("dec", "dec must be between -90 and 90 degrees.")
        if not 0 < data["radius"] <= max_radius:
            self.form.add_error("radius", f"radius must be greater than 0 and at most {max_radius:g} degrees.")

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        if data.get("radius") is not None:
            queryset = queryset.filter(cone_condition(float(data["ra"]), float(data["dec"]), float(data["radius"])))
        return queryset


def _exact_filters() -> dict[str, AnyOfFilter]:
    """Identifiers and integers of the field table, matched exactly under their names and their FITS keywords."""
    filters = {}
    for field in FRAME_FIELDS:
        if field.kind in ("identifier", "integer"):
            base = IntegerValueField if field.kind == "integer" else forms.CharField
            for name in (field.name, field.legacy):
                filters[name] = AnyOfFilter(field_name=field.name, base_field_class=base)
    return filters


# Added after the class is made: FilterSet collects its filters from class attributes, and these come from a table.
FrameFilterSet.declared_filters.update(_exact_filters())
FrameFilterSet.base_filters.update(_exact_filters())


class VersionFilterSet(django_filters.FilterSet):
    md5 = django_filters.CharFilter(method="filter_md5")

    class Meta:
        model = Version
        fields: list[str] = []

    def filter_md5(self, qs, name, value):
        return qs.filter(md5=value.strip().lower())


class ThumbnailFilterSet(django_filters.FilterSet):
    frame_basename = django_filters.CharFilter(field_name="frame__basename")
    proposal_id = django_filters.CharFilter(field_name="frame__proposal_id")
    observation_id = django_filters.NumberFilter(field_name="frame__observation_id")
    request_id = django_filters.NumberFilter(field_name="frame__request_id")
    size = django_filters.ChoiceFilter(choices=thumbnail_size_choices)

    class Meta:
        model = Thumbnail
        fields: list[str] = []


def cone_error_as_detail(errors: dict) -> dict:
    """The cone's "given together" error is answered as `{"detail": ...}`; other errors keep their field keys."""
    if "__all__" in errors:
        return {"detail": errors["__all__"][0]}
    return errors
