"""Pagination of the downtimes list: limit/offset as the downtime service pages, with a ceiling on `limit`."""

from django.conf import settings
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

# The largest row position PostgreSQL can address (a bigint); an offset beyond it cannot name a row.
MAX_OFFSET = 2**63 - 1


class DowntimePagination(LimitOffsetPagination):
    """`{"count", "next", "previous", "results"}`; `limit` defaults to DOWNTIMES_PAGE_SIZE and larger values than
    DOWNTIMES_MAX_LIMIT are served as that (the `next` link says so); 0 or a non-integer means the default. An
    offset the database cannot hold is a 400."""

    @property
    def default_limit(self) -> int:
        return settings.DOWNTIMES_PAGE_SIZE

    @property
    def max_limit(self) -> int:
        return settings.DOWNTIMES_MAX_LIMIT

    def get_offset(self, request) -> int:
        offset = super().get_offset(request)
        if offset > MAX_OFFSET:
            raise ValidationError({self.offset_query_param: [f"Ensure this value is at most {MAX_OFFSET}."]})
        return offset
