"""The project's one error vocabulary: domain errors and the DRF exception handler that shapes them."""

import logging
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from archive.dbtimeout import is_query_canceled

logger = logging.getLogger(__name__)


class ServiceUnavailable(APIException):
    """A dependency (database, file store, configdb, portal) cannot be reached: 503 with a message."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service the archive depends on cannot be reached; try again later."
    default_code = "service_unavailable"

    def __init__(self, detail: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the archive's state."
    default_code = "conflict"


class PayloadTooLarge(APIException):
    """A request body over a configured limit, refused before it is read: 413."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus 503s for unreachable dependencies: a 500 is always a bug, never an outage."""
    # Imported here: rest_framework.views loads the authentication classes, whose modules raise this module's errors.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, OperationalError) and is_query_canceled(exc):
        logger.warning("Query canceled by the statement timeout: %s", exc)
        seconds = settings.WEB_STATEMENT_TIMEOUT_MS / 1000
        exc = ServiceUnavailable(
            f"The query took longer than the archive allows ({seconds:g} s); narrow it (a shorter time range, "
            "a proposal, a position) or try again later.",
            retry_after=30,
        )
    elif isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("Database unavailable: %s", exc)
        exc = ServiceUnavailable("The database cannot be reached; try again later.", retry_after=30)
    response = drf_exception_handler(exc, context)
    retry_after = getattr(exc, "retry_after", None)
    if response is not None and retry_after:
        response["Retry-After"] = str(retry_after)
    return response
