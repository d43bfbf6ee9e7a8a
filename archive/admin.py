"""Admin pieces the apps share."""

from typing import Any

from django.contrib.admin import ShowFacets
from django.core.paginator import Paginator
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property


class ReadOnlyAdminMixin:
    """For records kept as they were written (audit events, tokens): listed and viewed in the admin, never added,
    changed or deleted there."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


class CappedCountPaginator(Paginator):
    """A paginator that counts at most `cap` rows: `SELECT COUNT(*) FROM (... LIMIT cap + 1)`, never a count of a
    whole large table. Past the cap it reports `cap` rows (pages up to there) and sets `capped`, which the admin's
    pagination and action templates show as "more than"."""

    cap = 10_000

    @cached_property
    def _found(self) -> int:
        object_list: Any = self.object_list
        if not isinstance(object_list, QuerySet):
            return len(object_list)
        # Sliced, the count becomes a count over a bounded subquery; its ordering is useless there.
        return object_list.order_by()[: self.cap + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self._found, self.cap)

    @property
    def capped(self) -> bool:
        return self._found > self.cap


class LargeTableAdminMixin:
    """For tables of up to millions of rows: no count of the whole table (a capped count instead, and no full
    result count next to the filtered one) and no facet counts (one count per filter choice)."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
