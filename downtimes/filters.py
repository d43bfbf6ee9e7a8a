"""Query parameters of the downtimes API, exports and page, and of the audit trail (docs/downtimes.md)."""

import datetime

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from downtimes.models import Downtime, DowntimeEvent
from downtimes.selectors import downtime_code_known

# The fields `ordering` may name (DRF-style): the wire object's 8 keys.
ORDERING_FIELDS = ("id", "start", "end", "site", "enclosure", "telescope", "instrument_type", "reason")
ORDER_FIELDS = ("start", "end", "modified", "created")
WHOLE_TELESCOPE = "all"
TRUE_VALUES = ("true", "1")


class UTCDateTimeField(forms.Field):
    """ISO 8601 (`T` or a space, optional seconds and fraction, `Z` or an offset) or a date alone; naive means UTC.

    The value is converted to UTC here, so every filter and the database see a time the calendar can hold: an offset
    that carries a time past 0001-01-01 or 9999-12-31 is refused as out of range instead of failing in the query.
    """

    default_error_messages = {
        "invalid": "Enter a valid date/time.",
        "out_of_range": "Enter a date/time between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z.",
    }

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime.datetime):
            parsed = value
        else:
            try:
                parsed = parse_datetime(str(value).strip())
            except ValueError:
                parsed = None
            if parsed is None:
                raise ValidationError(self.error_messages["invalid"], code="invalid")
        if timezone.is_naive(parsed):
            return parsed.replace(tzinfo=datetime.UTC)
        try:
            return parsed.astimezone(datetime.UTC)
        except OverflowError:
            raise ValidationError(self.error_messages["out_of_range"], code="out_of_range") from None


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField


class CodeField(forms.MultipleChoiceField):
    """Repeatable code values, each one configdb knows or a stored downtime has (retired codes stay searchable)."""

    def __init__(self, *args, code_field: str, **kwargs):
        self.code_field = code_field
        super().__init__(*args, **kwargs)

    def valid_value(self, value) -> bool:
        if "\x00" in value:
            return False  # PostgreSQL cannot take a NUL in a string: no stored code has one
        if value == "":
            return True  # no filter for site/enclosure/telescope; whole-telescope rows for instrument_type
        if self.code_field == "instrument_type" and value == WHOLE_TELESCOPE:
            return True
        return downtime_code_known(field=self.code_field, value=value)

    def validate(self, value):
        invalid = [item for item in value if not self.valid_value(item)]
        if invalid:
            raise ValidationError(
                [
                    ValidationError(self.error_messages["invalid_choice"], code="invalid_choice", params={"value": v})
                    for v in invalid
                ]
            )


class CodeFilter(django_filters.MultipleChoiceFilter):
    """Exact match on a code; repeating the parameter means "any of" (`?site=lco&site=tst`)."""

    field_class = CodeField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.extra["code_field"] = self.field_name

    def filter(self, qs, value):
        values = set(value or [])
        if self.field_name == "instrument_type":
            # `all` and an empty value both mean rows for the whole telescope (the reference answered 400 to empty).
            if WHOLE_TELESCOPE in values:
                values = (values - {WHOLE_TELESCOPE}) | {""}
        else:
            values.discard("")
        if not values:
            return qs
        if len(values) == 1:
            return qs.filter(**{self.field_name: values.pop()})
        return qs.filter(**{f"{self.field_name}__in": sorted(values)})


class DowntimeFilterForm(forms.Form):
    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("window_start"), cleaned.get("window_end")
        if start is not None and end is not None and end <= start:
            self.add_error("window_end", "window_end must be after window_start.")
        return cleaned


class DowntimeFilter(django_filters.FilterSet):
    """Every filter of /downtimes/api/, its exports and the /downtimes/ page; time bounds inclusive unless stated."""

    starts_after = UTCDateTimeFilter(field_name="start", lookup_expr="gte", help_text="start >= this time")
    starts_before = UTCDateTimeFilter(field_name="start", lookup_expr="lte", help_text="start <= this time")
    ends_after = UTCDateTimeFilter(field_name="end", lookup_expr="gte", help_text="end >= this time")
    ends_before = UTCDateTimeFilter(field_name="end", lookup_expr="lte", help_text="end <= this time")
    site = CodeFilter(field_name="site", help_text="Site code; repeat for any of several")
    enclosure = CodeFilter(field_name="enclosure", help_text="Enclosure code; repeat for any of several")
    telescope = CodeFilter(field_name="telescope", help_text="Telescope code; repeat for any of several")
    instrument_type = CodeFilter(
        field_name="instrument_type",
        help_text="Instrument type; `all` or empty selects whole-telescope downtimes; repeat for any of several",
    )
    reason = django_filters.CharFilter(
        field_name="reason", lookup_expr="icontains", help_text="Reason contains (case-insensitive)"
    )
    reason_exact = django_filters.CharFilter(
        field_name="reason", lookup_expr="exact", help_text="Reason equals (case-sensitive)"
    )
    created_after = UTCDateTimeFilter(field_name="created", lookup_expr="gte", help_text="created >= this time")
    created_before = UTCDateTimeFilter(field_name="created", lookup_expr="lte", help_text="created <= this time")
    modified_after = UTCDateTimeFilter(field_name="modified", lookup_expr="gte", help_text="modified >= this time")
    modified_before = UTCDateTimeFilter(field_name="modified", lookup_expr="lte", help_text="modified <= this time")
    window_start = UTCDateTimeFilter(
        method="filter_window_start", help_text="Overlaps a window starting here: end > window_start"
    )
    window_end = UTCDateTimeFilter(
        method="filter_window_end", help_text="Overlaps a window ending here: start < window_end"
    )
    active_at = UTCDateTimeFilter(method="filter_active_at", help_text="Active at this time: start <= t < end")
    active_now = django_filters.ChoiceFilter(
        choices=[(value, value) for value in ("true", "false", "1", "0")],
        method="filter_active_now",
        help_text="Active at request time (true/1) or not (false/0)",
    )
    order = django_filters.OrderingFilter(
        fields=ORDER_FIELDS, help_text="Order by start, end, modified or created; `-` descends; comma lists"
    )
    ordering = django_filters.CharFilter(
        method="filter_nothing",
        help_text="Order by any key of the object; `-` descends; comma lists; unknown names ignored; `order` wins",
    )

    # The API's default order is creation order (as the reference); the page orders by start.
    default_order: tuple[str, ...] = ("created", "id")

    class Meta:
        model = Downtime
        fields: list[str] = []
        form = DowntimeFilterForm

    def filter_window_start(self, queryset, name, value):
        return queryset.overlapping(value, None)

    def filter_window_end(self, queryset, name, value):
        return queryset.overlapping(None, value)

    def filter_active_at(self, queryset, name, value):
        return queryset.active_at(value)

    def filter_active_now(self, queryset, name, value):
        if not value:
            return queryset
        now = timezone.now()
        return queryset.active_at(now) if value in TRUE_VALUES else queryset.not_active_at(now)

    def filter_nothing(self, queryset, name, value):
        return queryset  # `ordering` is applied with `order` in filter_queryset

    def ordering_terms(self) -> list[str]:
        """`order` (validated) wins over `ordering` (unknown names dropped), else the default; id breaks ties."""
        cleaned = self.form.cleaned_data
        terms = [self.filters["order"].get_ordering_value(term) for term in cleaned.get("order") or [] if term]
        if not terms:
            requested = [term.strip() for term in (cleaned.get("ordering") or "").split(",")]
            terms = [term for term in requested if term and term.lstrip("-") in ORDERING_FIELDS]
        if not terms:
            terms = list(self.default_order)
        if not any(term.lstrip("-") == "id" for term in terms):
            terms.append("id")
        return terms

    def filter_queryset(self, queryset):
        for name, value in self.form.cleaned_data.items():
            if name != "order":
                queryset = self.filters[name].filter(queryset, value)
        return queryset.order_by(*self.ordering_terms())


class DowntimePageFilter(DowntimeFilter):
    default_order = ("start", "id")


class DowntimeEventFilter(django_filters.FilterSet):
    """Filters of history/."""

    downtime = django_filters.NumberFilter(field_name="downtime_pk", help_text="Id of the downtime")
    action = django_filters.MultipleChoiceFilter(
        choices=DowntimeEvent.Action.choices, help_text="created, updated or deleted; repeat for any of several"
    )
    user = django_filters.CharFilter(field_name="username", help_text="Username of who made the change")
    via = django_filters.ChoiceFilter(choices=DowntimeEvent.Via.choices, help_text="api, admin or command")
    after = UTCDateTimeFilter(field_name="at", lookup_expr="gte", help_text="at >= this time")
    before = UTCDateTimeFilter(field_name="at", lookup_expr="lte", help_text="at <= this time")

    class Meta:
        model = DowntimeEvent
        fields: list[str] = []
