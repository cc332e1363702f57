"""Site-wide error pages."""

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults

from geoloc_platform.exceptions import DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_ERRORS


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a lost database connection is a 503 with Retry-After (JSON under /api/), anything else a 500.

    Django calls this while handling the exception (so ``sys.exc_info`` holds it) for errors raised outside the
    API's own handler too: in middleware (sessions) or page views. Like Django's 500 view it renders no request
    context: that would query the database again.
    """
    if not isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE_ERRORS):
        return defaults.server_error(request)
    if request.path.startswith("/api/"):
        response = JsonResponse(DATABASE_UNAVAILABLE, status=503)
    else:
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response
