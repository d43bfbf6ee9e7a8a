"""A statement timeout for the web processes' database connections: no request holds a connection and a core for
longer than WEB_STATEMENT_TIMEOUT_MS. Workers and management commands (migrations, rebuilds) are not bounded."""

from typing import Any

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

QUERY_CANCELED = "57014"


def _set_timeout(sender: type[BaseDatabaseWrapper], connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if connection.vendor == "postgresql" and settings.WEB_STATEMENT_TIMEOUT_MS:
        with connection.cursor() as cursor:
            # Once per connection (they live DB_CONN_MAX_AGE seconds), not per request.
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, false)", [str(settings.WEB_STATEMENT_TIMEOUT_MS)]
            )


def bound_web_statements() -> None:
    """Called by the WSGI entry point (gunicorn and runserver load it) before the first request."""
    connection_created.connect(_set_timeout, dispatch_uid="archive.web_statement_timeout")


def is_query_canceled(exc: BaseException) -> bool:
    return getattr(exc.__cause__, "pgcode", None) == QUERY_CANCELED
