"""Pagination of the archive's lists: limit/offset with bounded counts, and keyset cursors (docs/frames.md)."""

import base64
import binascii
import datetime
import json
import logging
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError, connections, transaction
from django.db.models import Q, QuerySet
from django.http import QueryDict
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

logger = logging.getLogger(__name__)


def _positive_int(value: Any, default: int, maximum: int | None = None) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    if number <= 0:
        return default
    return min(number, maximum) if maximum else number


def _run_bounded(
    queryset: QuerySet[Any, Any], select_sql: str, params: Sequence[Any], *, timeout_ms: int, serial: bool = False
) -> tuple[Any, ...] | None:
    """The row of `select_sql` under a statement timeout, in one round trip; None when it took too long.

    The timeout is set with SET LOCAL in the same query string as the statement and put back by the statement itself,
    so it covers exactly that statement (PostgreSQL >= 13 times each statement of a multi-statement string
    separately). Inside a caller's transaction a savepoint keeps a timed-out statement from breaking that transaction.
    `serial` plans it without parallel workers: for the few thousand rows of an estimated-small list, starting them
    cost more than they saved (tens of ms on the busy two-core bench host).
    """
    connection = connections[queryset.db]
    local = {"statement_timeout": str(int(timeout_ms))}
    if serial:
        local["max_parallel_workers_per_gather"] = "0"
    save = ", ".join(
        f"set_config('archive.outer_{name}', current_setting('{name}'), true), set_config('{name}', '{value}', true)"
        for name, value in local.items()
    )
    restore = ", ".join(f"set_config('{name}', current_setting('archive.outer_{name}'), true)" for name in local)
    sql = f"SELECT {save}; SELECT result.*, {restore} FROM ({select_sql}) AS result"
    try:
        savepoint = transaction.atomic(using=queryset.db) if connection.in_atomic_block else nullcontext()
        with savepoint, connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[: -len(local)]
    except OperationalError as exc:
        if getattr(exc.__cause__, "pgcode", None) != "57014":  # query_canceled
            raise
        logger.info("Count gave up after %d ms; using the estimate", timeout_ms)
        return None


def exact_count(
    queryset: QuerySet[Any, Any], timeout_ms: int, *, cap: int | None = None, serial: bool = False
) -> int | None:
    """COUNT(*) under a statement timeout, in one round trip; None when it took too long. With `cap`, counting stops
    there: a result of `cap` means "at least". `serial` as for `_run_bounded`."""
    try:
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:  # filters that can match nothing (`.none()`, an integer beyond its column): no SQL
        return 0
    limit = f" LIMIT {int(cap)}" if cap is not None else ""
    select = f"SELECT count(*) AS n FROM ({sql}{limit}) AS counted"
    row = _run_bounded(queryset, select, params, timeout_ms=timeout_ms, serial=serial)
    return None if row is None else row[0]


def counted_page(
    queryset: QuerySet[Any, Any], *, field: str, descending: bool, offset: int, size: int, cap: int, timeout_ms: int
) -> tuple[list[int] | None, int] | None:
    """`(ids, count)`: the ids of rows offset..offset+size of `queryset` ordered by (field, id) (`field` a column),
    and the number of all its rows, from one scan of its matches. `(None, cap)` when there are `cap` matches or more
    (the scan stops there); None when it took longer than `timeout_ms`.

    The keys (id, field) of the matches are read once, in no order, so the planner reads them the cheapest way for a
    few thousand rows (a filter's own index: the trigram bitmap of a contains-search), and the count and the page
    both come from them. Read on its own, the page cost as much again as the count, and more when the planner walked
    the ordering's index expecting a page of matches among the most recent frames.
    """
    try:
        sql, params = queryset.order_by().values_list("pk", field).query.sql_with_params()
    except EmptyResultSet:  # filters that can match nothing: no SQL
        return [], 0
    direction = "DESC" if descending else "ASC"  # NULLs first descending, last ascending: as the ORM orders them
    select = (
        f"WITH matches AS MATERIALIZED (SELECT * FROM ({sql}) AS filtered (pk, sort_key) LIMIT {int(cap)}) "
        "SELECT (SELECT count(*) FROM matches) AS n, "
        f"ARRAY(SELECT pk FROM matches ORDER BY sort_key {direction}, pk {direction} "
        f"OFFSET {int(offset)} LIMIT {int(size)}) AS ids"
    )
    row = _run_bounded(queryset, select, params, timeout_ms=timeout_ms, serial=True)
    if row is None:
        return None
    count, ids = row
    return (None, cap) if count >= cap else (ids, count)


def planner_estimate(queryset: QuerySet[Any, Any]) -> int:
    """The planner's row estimate of `queryset`'s filters. Only the key is selected: planning a page's full target
    list (footprints as GeoJSON, ...) took three times as long and does not change the estimate."""
    try:
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:  # filters that can match nothing: no SQL to plan
        return 0
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class ArchivePagination(BasePagination):
    """Limit/offset by default (`count`, `count_estimated`), keyset cursors with `pagination_style=cursor`.

    Views give the ordering as `(field, descending)` on `view.ordering_key`, and may say through
    `view.count_timeout_ms(request)` that a list deserves an exact count (None: estimate unless small), and through
    `view.count_first(request)` that its page costs a scan of all its matches anyway (a contains-search, whose index
    cannot give the order): such a list is estimated first and, when small, paged and counted from one scan.

    A view whose ordering may need a sort of every match says so through `view.ordering_sorts(request, field)`; such a
    list is served, in either style, only when at most `ORDERING_SORT_MAX_ROWS` rows match by the planner's estimate
    (which the count then reuses), else `view.ordering_refused(...)` is raised.
    """

    def paginate_queryset(
        self, queryset: QuerySet[Any, Any], request: Request, view: APIView | None = None
    ) -> list[Any]:
        self.request = request
        params = request.query_params
        self.limit = _positive_int(
            params.get("limit"), settings.PAGINATION_DEFAULT_LIMIT, settings.PAGINATION_MAX_LIMIT
        )
        ordering_key: Callable[[Request], tuple[str, bool]] = getattr(view, "ordering_key", lambda r: ("id", True))
        self.field, self.descending = ordering_key(request)
        self.style = "cursor" if params.get("pagination_style") == "cursor" else "limit"
        self.estimate: int | None = None
        self.estimate_allowed: bool | None = None
        self.known_count: int | None = None
        self._check_sort(queryset, view)
        if self.style == "cursor":
            return self._paginate_cursor(queryset, params)
        return self._paginate_offset(queryset, params, view)

    def _estimate_allowed(self, view: Any) -> bool:
        if self.estimate_allowed is None:
            self.estimate_allowed = view.estimate_allowed(self.request) if hasattr(view, "estimate_allowed") else True
        return self.estimate_allowed

    # `view` may have the optional hooks of the class docstring, looked up by name.
    def _check_sort(self, queryset: QuerySet[Any, Any], view: Any) -> None:
        """Refuse an ordering that sorts every match when more than ORDERING_SORT_MAX_ROWS rows match.

        The rows are the planner's estimate, kept for the count. Where the estimate may not be shown (a proposal the
        caller may not see: see FrameListPolicy.estimate_allowed), the caller's own rows are counted instead, up to
        one past the limit: under it, that count is exact and is the list's count.
        """
        if not hasattr(view, "ordering_sorts") or not view.ordering_sorts(self.request, self.field):
            return
        limit = settings.ORDERING_SORT_MAX_ROWS
        rows: int | None
        if self._estimate_allowed(view):
            rows = self.estimate = planner_estimate(queryset)
            if rows <= limit:
                return
        else:
            rows = exact_count(queryset, settings.PAGINATION_COUNT_TIMEOUT_MS, cap=limit + 1, serial=True)
            if rows is not None and rows <= limit:
                self.known_count = rows
                return
        raise view.ordering_refused(
            self.request, self.field, self.descending, rows=rows, estimated=self._estimate_allowed(view)
        )

    # --- limit/offset -------------------------------------------------------------------------------------------
    def _ordered(self, queryset: QuerySet[Any, Any], reverse: bool = False) -> QuerySet[Any, Any]:
        descending = self.descending != reverse
        prefix = "-" if descending else ""
        return queryset.order_by(f"{prefix}{self.field}", f"{prefix}id")

    # `view` may have the optional hooks of the class docstring, looked up by name.
    def _paginate_offset(self, queryset: QuerySet[Any, Any], params: QueryDict, view: Any) -> list[Any]:
        try:
            self.offset = max(int(params.get("offset", 0)), 0)
        except (TypeError, ValueError):
            self.offset = 0
        if self.offset > settings.PAGINATION_MAX_OFFSET:
            # A deep offset makes the database walk and drop every row before it; cursors cost the same on any page.
            raise ValidationError(
                {
                    "offset": [
                        f"offset may be at most {settings.PAGINATION_MAX_OFFSET}; to page further, use "
                        "pagination_style=cursor and follow the `next` links."
                    ]
                }
            )
        self.at_least = 0
        self.scanned = False
        timeout = view.count_timeout_ms(self.request) if hasattr(view, "count_timeout_ms") else None
        estimate = self.estimate
        if timeout is None and hasattr(view, "count_first") and view.count_first(self.request):
            if estimate is None:
                estimate = planner_estimate(queryset)
            if estimate < settings.PAGINATION_EXACT_COUNT_THRESHOLD:
                rows = self._counted_page(queryset)
                if rows is not None:
                    return rows
        rows = list(self._ordered(queryset)[self.offset : self.offset + self.limit + 1])
        self.has_next = len(rows) > self.limit
        rows = rows[: self.limit]
        self._estimate_allowed(view)
        self.count, self.count_estimated = self._count(queryset, timeout, estimate, len(rows))
        return rows

    def _counted_page(self, queryset: QuerySet[Any, Any]) -> list[Any] | None:
        """The page, with the exact count, from one scan of the matches; None when that scan gave up."""
        self.scanned = True
        found = counted_page(
            queryset,
            field=self.field,
            descending=self.descending,
            offset=self.offset,
            size=self.limit + 1,
            cap=settings.PAGINATION_EXACT_COUNT_THRESHOLD,
            timeout_ms=settings.PAGINATION_COUNT_TIMEOUT_MS,
        )
        if found is None:
            return None
        ids, count = found
        if ids is None:
            self.at_least = count  # more matches than exact counts are made for: the estimate, but no lower
            return None
        self.count, self.count_estimated = count, False
        self.has_next = len(ids) > self.limit
        ids = ids[: self.limit]
        # The rows by primary key, through the same queryset: its annotations, and its filters checked once more.
        return list(self._ordered(queryset.filter(pk__in=ids))) if ids else []

    def _count(
        self, queryset: QuerySet[Any, Any], timeout: int | None, estimate: int | None, page_length: int
    ) -> tuple[int, bool]:
        """(count, estimated) of a list whose page was read on its own."""
        unordered = queryset.order_by()
        floor = max(self.offset + page_length + (1 if self.has_next else 0), self.at_least)
        if not self.has_next and (page_length or self.offset == 0):
            return self.offset + page_length, False  # the last page tells the exact count for free
        if self.known_count is not None:  # counted exactly when the ordering was checked
            return max(self.known_count, floor), False
        if timeout is not None:  # the view asks for an exact count, however large
            count = exact_count(unordered, timeout)
            if count is not None:
                return count, False
            if not self.estimate_allowed:
                return floor, True  # at least what was seen: no statistics over rows the caller may not see
        if estimate is None:
            estimate = planner_estimate(unordered)
        threshold = settings.PAGINATION_EXACT_COUNT_THRESHOLD
        if timeout is None and estimate < threshold and not self.scanned:
            # Small by the estimate: counted exactly, but no further than the threshold in case the estimate was wrong.
            count = exact_count(unordered, settings.PAGINATION_COUNT_TIMEOUT_MS, cap=threshold, serial=True)
            if count is not None and count < threshold:
                return count, False
            floor = max(floor, count or 0)
        return max(estimate, floor), True

    # --- cursor -------------------------------------------------------------------------------------------------
    def _decode_cursor(self, raw: str) -> dict:
        try:
            data = json.loads(base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4)))
            if not isinstance(data, dict) or not isinstance(data.get("id"), int) or data.get("d") not in ("n", "p"):
                raise ValueError
            if not isinstance(data.get("v"), str | int | float | None):
                raise ValueError
            return data
        except (ValueError, binascii.Error, UnicodeError, TypeError):
            raise NotFound("Invalid cursor") from None

    def _encode_cursor(self, row: Any, direction: str) -> str:
        value = getattr(row, self.field)
        if isinstance(value, datetime.datetime | datetime.date):
            value = value.isoformat()
        raw = json.dumps({"v": value, "id": row.id, "d": direction}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def _after(self, value: Any, row_id: int, descending: bool) -> Q:
        """Rows strictly after (value, id) in the order; NULLs sort last ascending and first descending."""
        field = self.field
        if descending:
            if value is None:
                return Q(**{f"{field}__isnull": True, "id__lt": row_id}) | Q(**{f"{field}__isnull": False})
            return Q(**{f"{field}__lt": value}) | Q(**{field: value, "id__lt": row_id})
        if value is None:
            return Q(**{f"{field}__isnull": True, "id__gt": row_id})
        return Q(**{f"{field}__gt": value}) | Q(**{field: value, "id__gt": row_id}) | Q(**{f"{field}__isnull": True})

    def _paginate_cursor(self, queryset: QuerySet[Any, Any], params: QueryDict) -> list[Any]:
        raw = params.get("cursor")
        cursor = self._decode_cursor(raw) if raw else None
        backwards = cursor is not None and cursor["d"] == "p"
        ordered = self._ordered(queryset, reverse=backwards)
        if cursor is not None:
            try:
                ordered = ordered.filter(self._after(cursor.get("v"), cursor["id"], self.descending != backwards))
            except (DjangoValidationError, ValueError, TypeError, OverflowError):
                # A value the ordering field cannot hold (a tampered or foreign cursor) is a bad cursor, not a 500.
                raise NotFound("Invalid cursor") from None
        rows = list(ordered[: self.limit + 1])
        more = len(rows) > self.limit
        rows = rows[: self.limit]
        if backwards:
            rows.reverse()
            self.has_next, self.has_previous = True, more
        else:
            self.has_next, self.has_previous = more, cursor is not None
        self.cursor_rows = rows
        return rows

    # --- responses ----------------------------------------------------------------------------------------------
    def _link(self, **changes: object) -> str:
        url = self.request.build_absolute_uri()
        for key, value in changes.items():
            url = remove_query_param(url, key) if value is None else replace_query_param(url, key, value)
        return url

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        if self.style == "cursor":
            return self._link(cursor=self._encode_cursor(self.cursor_rows[-1], "n")) if self.cursor_rows else None
        return self._link(limit=self.limit, offset=self.offset + self.limit)

    def get_previous_link(self) -> str | None:
        if self.style == "cursor":
            if not self.has_previous or not self.cursor_rows:
                return None
            return self._link(cursor=self._encode_cursor(self.cursor_rows[0], "p"))
        if self.offset <= 0:
            return None
        if self.offset - self.limit <= 0:
            return self._link(limit=self.limit, offset=None)
        return self._link(limit=self.limit, offset=self.offset - self.limit)

    def get_paginated_response(self, data: Any) -> Response:
        if self.style == "cursor":
            return Response({"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})
        return Response(
            {
                "count": self.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
                "count_estimated": self.count_estimated,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            # `count` and `count_estimated` are not part of a cursor page.
            "required": ["next", "previous", "results"],
            "properties": {
                "count": {"type": "integer"},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
                "count_estimated": {"type": "boolean"},
            },
        }
