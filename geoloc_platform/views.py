"""Site-wide pages: error pages and the favicon."""

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.templatetags.static import static
from django.views import defaults
from django.views.generic import RedirectView

from geoloc_platform.cache_setup import SETUP_COMMAND, cache_table_missing_body, missing_cache_table
from geoloc_platform.exceptions import DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_ERRORS


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a lost database connection is a 503 with Retry-After (JSON under /api/), anything else a 500.

    Django calls this while handling the exception (so ``sys.exc_info`` holds it) for errors raised outside the
    API's own handler too: in middleware (sessions) or page views. Like Django's 500 view it renders no request
    context: that would query the database again.
    """
    error = sys.exc_info()[1]
    table = missing_cache_table(error)
    if table is not None:  # raised outside the API's handler (pages, middleware): the same plain message
        if request.path.startswith("/api/"):
            return JsonResponse(cache_table_missing_body(table), status=500)
        page = loader.get_template("setup_incomplete.html").render({"table": table, "command": SETUP_COMMAND})
        return HttpResponse(page, status=500)
    if not isinstance(error, DATABASE_UNAVAILABLE_ERRORS):
        return defaults.server_error(request)
    if request.path.startswith("/api/"):
        response = JsonResponse(DATABASE_UNAVAILABLE, status=503)
    else:
        # The page reloads itself after Retry-After (a refreshing progress page stays alive through a blip).
        page = loader.get_template("503.html").render({"retry_after": DATABASE_RETRY_AFTER_SECONDS})
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


class FaviconRedirect(RedirectView):
    """/favicon.ico, asked for by pages that name no icon, points at the static icon (resolved per request: the
    production manifest does not exist yet when the URLconf is first imported by collectstatic)."""

    permanent = True

    def get_redirect_url(self, *args, **kwargs) -> str:
        return static("favicon.svg")
