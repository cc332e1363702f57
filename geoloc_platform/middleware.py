"""Site-wide middleware: malformed API bodies refused in JSON before any view runs; a Content-Security-Policy."""

import base64
import hashlib
import json
import logging
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

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


# Third-party templates we render that hold a fixed inline <style> block: Django's admin change list (lists
# without actions) and drf-spectacular's Swagger UI page. Each block is allowed by the hash of its exact text,
# read from the installed package, so nothing else inline is.
THIRD_PARTY_STYLE_BLOCKS = (
    ("django.contrib.admin", "templates/admin/change_list.html"),
    ("drf_spectacular", "templates/drf_spectacular/swagger_ui.html"),
)


def _style_block_hashes() -> list[str]:
    import importlib

    hashes = []
    for package, template in THIRD_PARTY_STYLE_BLOCKS:
        source = (Path(importlib.import_module(package).__file__).parent / template).read_text()
        for block in re.findall(r"<style>(.*?)</style>", source, flags=re.DOTALL):
            digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
            hashes.append(f"'sha256-{digest}'")
    return hashes


def _origin(url: str) -> str:
    """The scheme and host of a URL template such as a tile server's ``https://{s}.tile.example/{z}/{x}/{y}.png``."""
    parts = urlsplit(url.replace("{s}", "*"))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


@cache
def content_security_policy() -> str:
    """The policy every response carries: scripts and styles from our own static files only (no inline script,
    no eval), images from us and the tile server (and, for posts never downloaded, their https hosts), frames only
    for the Street View embed, no plugins, no framing of our pages, forms posting only to us."""
    tiles = _origin(settings.MAP_TILE_URL)
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", *_style_block_hashes()],
        # style="" attributes (Leaflet positions its panes with them) cannot run code; <style> elements stay out.
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:", "https:", *([tiles] if tiles.startswith("http:") else [])],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-src": ["https://www.google.com"] if settings.GOOGLE_MAPS_EMBED_KEY else ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


class ContentSecurityPolicyMiddleware:
    """Sets ``Content-Security-Policy`` on every response that has none (README, "Security")."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy()
        return response
