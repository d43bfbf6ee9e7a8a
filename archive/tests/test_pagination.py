"""Bounded counts: an exact count, or a page with its count, under local settings that cover that statement alone."""

import pytest
from django.db import connection

from archive.pagination import counted_page, exact_count
from frames.models import Frame
from frames.tests.factories import FrameFactory


def _statement_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


def _parallel_workers() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        return cursor.fetchone()[0]


IN_AND_OUT_OF_A_TRANSACTION = pytest.mark.parametrize(
    "in_transaction",
    [
        pytest.param(True, marks=pytest.mark.django_db),
        pytest.param(False, marks=pytest.mark.django_db(transaction=True)),
    ],
)


@IN_AND_OUT_OF_A_TRANSACTION
def test_count_within_its_timeout(in_transaction):
    assert connection.in_atomic_block == in_transaction
    FrameFactory.create_batch(3)
    assert exact_count(Frame.objects.all(), 1500) == 3
    assert _statement_timeout() == "0"


@IN_AND_OUT_OF_A_TRANSACTION
def test_a_slow_count_gives_up_and_leaves_the_connection_usable(in_transaction):
    assert connection.in_atomic_block == in_transaction
    FrameFactory.create_batch(3)
    slow = Frame.objects.extra(where=["pg_sleep(0.2) IS NOT NULL"])
    assert exact_count(slow, 20) is None
    assert _statement_timeout() == "0"
    assert Frame.objects.count() == 3


def _page(queryset, **changes):
    arguments = {"field": "id", "descending": True, "offset": 0, "size": 2, "cap": 100, "timeout_ms": 1500}
    return counted_page(queryset, **{**arguments, **changes})


@IN_AND_OUT_OF_A_TRANSACTION
def test_a_counted_page_gives_the_page_and_the_count_and_puts_the_settings_back(in_transaction):
    assert connection.in_atomic_block == in_transaction
    workers = _parallel_workers()
    frames = FrameFactory.create_batch(5)
    ids = sorted(frame.id for frame in frames)
    assert _page(Frame.objects.all()) == (ids[::-1][:2], 5)
    assert _page(Frame.objects.all(), descending=False, offset=3, size=5) == (ids[3:], 5)
    assert _page(Frame.objects.all(), offset=9) == ([], 5)
    # Planned and run without parallel workers, and within its own timeout:
    serial = Frame.objects.extra(where=["current_setting('max_parallel_workers_per_gather') = '0'"])
    assert _page(serial)[1] == 5
    timed = Frame.objects.extra(where=["current_setting('statement_timeout') = '1500ms'"])
    assert _page(timed)[1] == 5
    assert (_statement_timeout(), _parallel_workers()) == ("0", workers)


@pytest.mark.django_db
def test_a_counted_page_stops_at_its_cap():
    FrameFactory.create_batch(5)
    assert _page(Frame.objects.all(), cap=5) == (None, 5)
    assert _page(Frame.objects.all(), cap=6)[1] == 5


@IN_AND_OUT_OF_A_TRANSACTION
def test_a_slow_counted_page_gives_up_and_leaves_the_connection_usable(in_transaction):
    assert connection.in_atomic_block == in_transaction
    workers = _parallel_workers()
    FrameFactory.create_batch(3)
    slow = Frame.objects.extra(where=["pg_sleep(0.2) IS NOT NULL"])
    assert _page(slow, timeout_ms=20) is None
    assert (_statement_timeout(), _parallel_workers()) == ("0", workers)
    assert Frame.objects.count() == 3


@pytest.mark.django_db
def test_a_counted_page_of_filters_that_match_nothing_needs_no_sql(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert _page(Frame.objects.none()) == ([], 0)
