"""One family of refusals with stable codes, rendered by one handler (see README, "Error codes")."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler


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
    """DRF's handler, plus PlatformError rendered as ``{"code", "detail"}`` with its HTTP status."""
    if isinstance(exc, PlatformError):
        return Response({"code": exc.code, "detail": exc.message}, status=exc.http_status)
    return exception_handler(exc, context)
