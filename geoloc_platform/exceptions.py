"""One family of refusals with stable codes, rendered by one handler (see README, "Error codes")."""

import logging

from django.db import InterfaceError, OperationalError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler

from geoloc_platform.cache_setup import cache_table_missing_body, missing_cache_table

logger = logging.getLogger(__name__)

# A connection the database cut (restart, failover, pg_terminate_backend) or refused: the request is answered 503
# with Retry-After instead of 500, and the next request reconnects (CONN_HEALTH_CHECKS). A transaction cut short
# is rolled back with its connection, so nothing is half written; a retry of work that did commit gets the
# endpoint's own refusal (e.g. ``already_answered``).
DATABASE_UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)
DATABASE_RETRY_AFTER_SECONDS = 5
DATABASE_UNAVAILABLE = {
    "code": "database_unavailable",
    "detail": "The database is unavailable for a moment: please try again.",
}


class PlatformError(Exception):
    """A refusal a caller can act on. ``code`` is stable and documented; ``message`` is for people."""

    code = "error"
    http_status = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidTransition(PlatformError):
    code = "invalid_transition"
    http_status = status.HTTP_409_CONFLICT


class NotAllowed(PlatformError):
    code = "not_allowed"
    http_status = status.HTTP_403_FORBIDDEN


def api_exception_handler(exc, context):
    """Every API error as ``{"code", "detail"}``: PlatformError with its own code and status; invalid input as
    ``invalid_input`` with the per-field messages under ``errors``; a lost database connection as 503
    ``database_unavailable`` with Retry-After; DRF's other errors keep their status."""
    if isinstance(exc, PlatformError):
        return Response({"code": exc.code, "detail": exc.message}, status=exc.http_status)
    table = missing_cache_table(exc)
    if table is not None:  # a setup step was missed: say which, rather than blame the database
        body = cache_table_missing_body(table)
        logger.error(body["detail"])
        return Response(body, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if isinstance(exc, DATABASE_UNAVAILABLE_ERRORS):
        request = context.get("request")
        logger.error("database unavailable: %s %s", request.method, request.path, exc_info=exc)
        return Response(
            DATABASE_UNAVAILABLE,
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        fields = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        summary = "; ".join(
            f"{field}: {' '.join(map(str, messages if isinstance(messages, list) else [messages]))}"
            for field, messages in fields.items()
        )
        response.data = {"code": "invalid_input", "detail": summary or "Invalid input.", "errors": fields}
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"code": getattr(response.data["detail"], "code", "error"), **response.data}
    return response
