"""Web requests' statements are bounded: a connection made by the web process carries the timeout, and a canceled
statement is a 503 with a message a person can act on."""

import pytest
from django.db import OperationalError, connection, transaction
from rest_framework.test import APIRequestFactory

from archive.dbtimeout import _set_timeout
from archive.exceptions import exception_handler

pytestmark = pytest.mark.django_db


def test_web_connections_carry_the_statement_timeout(settings):
    settings.WEB_STATEMENT_TIMEOUT_MS = 1234
    _set_timeout(sender=None, connection=connection)
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "1234ms"
        cursor.execute("SET statement_timeout = 0")


def test_the_wsgi_entry_point_bounds_statements():
    from django.db.backends.signals import connection_created

    import archive.wsgi  # noqa: F401 - importing it is what gunicorn and runserver do
    from archive.dbtimeout import bound_web_statements

    # It was connected; disconnected again so that the rest of the suite's connections stay unbounded.
    assert connection_created.disconnect(dispatch_uid="archive.web_statement_timeout")
    bound_web_statements()
    assert connection_created.disconnect(dispatch_uid="archive.web_statement_timeout")


def test_a_canceled_statement_is_a_503_with_a_message(settings):
    settings.WEB_STATEMENT_TIMEOUT_MS = 30000
    with pytest.raises(OperationalError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 10")
        cursor.execute("SELECT pg_sleep(1)")
    request = APIRequestFactory().get("/frames/")
    response = exception_handler(caught.value, {"request": request})
    assert response.status_code == 503
    assert response.data["detail"].startswith("The query took longer than the archive allows (30 s)")
    assert response["Retry-After"] == "30"
