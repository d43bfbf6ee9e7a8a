"""Filters of the data session list."""

import django_filters

from datalab.models import DataSession
from frames.filters import UTCDateTimeFilter


class SessionFilter(django_filters.FilterSet):
    # Times are held in UTC once read (as the frames filters hold them): an offset PostgreSQL cannot take (beyond
    # ±15:59) or one that carries the time off the calendar is converted or refused here, not failed in the query.
    created_after = UTCDateTimeFilter(field_name="created", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created", lookup_expr="lte")
    modified_after = UTCDateTimeFilter(field_name="modified", lookup_expr="gte")
    modified_before = UTCDateTimeFilter(field_name="modified", lookup_expr="lte")
    accessed_after = UTCDateTimeFilter(field_name="accessed", lookup_expr="gte")
    accessed_before = UTCDateTimeFilter(field_name="accessed", lookup_expr="lte")
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains", max_length=256)
    name_exact = django_filters.CharFilter(field_name="name", lookup_expr="exact", max_length=256)
    user = django_filters.CharFilter(field_name="user__username", lookup_expr="icontains", max_length=150)
    user_exact = django_filters.CharFilter(field_name="user__username", lookup_expr="exact", max_length=150)
    ordering = django_filters.OrderingFilter(fields=("created", "modified", "accessed", "name", "id"))

    class Meta:
        model = DataSession
        fields: list[str] = []
