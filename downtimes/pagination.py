"""Pagination of the downtimes list: limit/offset as the downtime service pages, with a ceiling on `limit`."""

from django.conf import settings
from rest_framework.pagination import LimitOffsetPagination


class DowntimePagination(LimitOffsetPagination):
    """`{"count", "next", "previous", "results"}`; `limit` defaults to DOWNTIMES_PAGE_SIZE and larger values than
    DOWNTIMES_MAX_LIMIT are served as that (the `next` link says so); 0 or a non-integer means the default."""

    @property
    def default_limit(self) -> int:
        return settings.DOWNTIMES_PAGE_SIZE

    @property
    def max_limit(self) -> int:
        return settings.DOWNTIMES_MAX_LIMIT
