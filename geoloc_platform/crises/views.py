"""Public pages of crises: the list on the home page and each crisis's landing page."""

from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from geoloc_platform.crises import selectors
from geoloc_platform.crises.codes import country_names
from geoloc_platform.crises.models import Crisis


def crisis_list(request: HttpRequest) -> HttpResponse:
    crises = selectors.crisis_list_visible(user=request.user)
    return render(request, "crises/list.html", {"crises": crises})


def crisis_detail(request: HttpRequest, slug: str) -> HttpResponse:
    crisis = get_object_or_404(Crisis, slug=slug)
    if not selectors.user_can_view_crisis(user=request.user, crisis=crisis):
        raise Http404("No such crisis.")  # 404, not 403: private crises do not reveal that they exist
    counts = crisis.media.aggregate(images=Count("pk"), fetched=Count("pk", filter=~Q(stage="new")))
    context = {
        "crisis": crisis,
        "counts": counts,
        "can_contribute": selectors.user_can_contribute(user=request.user, crisis=crisis),
        "is_coordinator": selectors.user_is_coordinator(user=request.user, crisis=crisis),
        "countries": [country_names().get(code, code) for code in crisis.country_codes or ()],
    }
    return render(request, "crises/detail.html", context)
