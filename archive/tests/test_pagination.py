"""Bounded counts: an exact count under a statement timeout that covers the count and nothing after it."""

import pytest
from django.db import connection

from archive.pagination import exact_count
from frames.models import Frame
from frames.tests.factories import FrameFactory


def _statement_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
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
