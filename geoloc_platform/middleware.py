"""Site-wide middleware: malformed API bodies refused in JSON before any view runs."""

import json
import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError

security_logger = logging.getLogger("django.security.api_body")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})  # RFC 8259: JSON between systems is UTF-8


class BodyRefused(Exception):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _refuse_constant(name: str):
    raise BodyRefused("malformed_json", f"{name} is not JSON.")


def _check_json(raw: bytes, charset: str) -> None:
    if charset and charset.lower() not in JSON_CHARSETS:
        raise BodyRefused("bad_encoding", f"JSON must be UTF-8, not {charset[:40]}.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BodyRefused("bad_encoding", f"The body is not valid UTF-8 (byte {error.start}).") from error
    try:
        json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as error:
        # The C scanner gives up about 1,000 levels down; caught here it is a 400, not a 500 with a traceback.
        raise BodyRefused("too_deeply_nested", "The JSON body is nested too deeply.") from error
    except ValueError as error:
        raise BodyRefused("malformed_json", f"The body is not JSON: {str(error)[:120]}") from error


def _check_form(request: HttpRequest, charset: str) -> None:
    if charset:
        try:
            "".encode(charset)
        except LookupError as error:
            raise BodyRefused("bad_encoding", f"Unknown charset {charset[:40]}.") from error
    try:
        request.POST  # noqa: B018 - parsing is the check; Django caches the result for the view
    except MultiPartParserError as error:
        raise BodyRefused("malformed_body", f"The multipart body is malformed: {str(error)[:120]}") from error
    except UnicodeDecodeError as error:
        raise BodyRefused("bad_encoding", "The form body is not valid in its charset.") from error


def api_body_refusal(request: HttpRequest) -> BodyRefused | None:
    """Why the body of an API write cannot be parsed, or None. Runs the parsers DRF will run, once, up front."""
    try:
        raw = request.body  # refuses a Content-Length over DATA_UPLOAD_MAX_MEMORY_SIZE without reading it
    except RequestDataTooBig:
        return BodyRefused("request_too_large", f"The body exceeds {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
    except UnreadablePostError:
        return BodyRefused("unreadable_body", "The body could not be read to its end.")
    if not raw:
        return None
    content_type = request.content_type or ""
    charset = request.content_params.get("charset", "")
    try:
        if content_type == "application/json" or content_type.endswith("+json"):
            _check_json(raw, charset)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            _check_form(request, charset)
    except BodyRefused as refusal:
        return refusal
    except SuspiciousOperation as error:  # TooManyFieldsSent, TooManyFilesSent
        return BodyRefused("malformed_body", str(error)[:200])
    return None


class ApiRequestBodyGuard:
    """Every write to ``/api/`` with a body that cannot be parsed (too large, badly encoded, too deeply nested,
    not JSON) answers 400 ``{"code", "detail"}``: never a 500 with a traceback, never an HTML page.

    It runs before CSRF and the views, which would otherwise meet the same body first and fail in their own way.
    Bodies the API can parse pass untouched; DRF parses them again from Django's cached copy.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in WRITE_METHODS and request.path.startswith("/api/"):
            refusal = api_body_refusal(request)
            if refusal is not None:
                security_logger.info("API body refused: %s %s %s", refusal.code, request.method, request.path)
                return JsonResponse({"code": refusal.code, "detail": refusal.detail}, status=400)
        return self.get_response(request)
