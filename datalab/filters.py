"""Filters of the data session list."""

import django_filters

from datalab.models import DataSession


class SessionFilter(django_filters.FilterSet):
    created_after = django_filters.IsoDateTimeFilter(field_name="created", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created", lookup_expr="lte")
    modified_after = django_filters.IsoDateTimeFilter(field_name="modified", lookup_expr="gte")
    modified_before = django_filters.IsoDateTimeFilter(field_name="modified", lookup_expr="lte")
    accessed_after = django_filters.IsoDateTimeFilter(field_name="accessed", lookup_expr="gte")
    accessed_before = django_filters.IsoDateTimeFilter(field_name="accessed", lookup_expr="lte")
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains", max_length=256)
    name_exact = django_filters.CharFilter(field_name="name", lookup_expr="exact", max_length=256)
    user = django_filters.CharFilter(field_name="user__username", lookup_expr="icontains", max_length=150)
    user_exact = django_filters.CharFilter(field_name="user__username", lookup_expr="exact", max_length=150)
    ordering = django_filters.OrderingFilter(fields=("created", "modified", "accessed", "name", "id"))

    class Meta:
        model = DataSession
        fields: list[str] = []
