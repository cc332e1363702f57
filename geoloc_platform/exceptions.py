"""One family of refusals with stable codes, rendered by one handler (see README, "Error codes")."""

from rest_framework import status
from rest_framework.exceptions import ValidationError
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
    """Every API error as ``{"code", "detail"}``: PlatformError with its own code and status; invalid input as
    ``invalid_input`` with the per-field messages under ``errors``; DRF's other errors keep their status."""
    if isinstance(exc, PlatformError):
        return Response({"code": exc.code, "detail": exc.message}, status=exc.http_status)
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
