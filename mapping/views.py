"""Pages of the mapping app: the live disaster map, the coordinator dashboard, and map images."""

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from classification.models import PostGeolocation
from classification.selectors import country_circles
from geoloc_platform.crises.models import Crisis
from geoloc_platform.crises.selectors import user_can_view_crisis, user_can_view_private_map, user_is_coordinator
from geoloc_platform.protected_media import stored_file_response
from mapping import exports, selectors, services
from mapping.selectors import PRECISION_RANK
from tasks_app import selectors as task_selectors
from tasks_app.models import Assignment


def _strings() -> dict:
    """The map script's words, translated here and passed through json_script (safe in any language)."""
    return {
        "verified": _("Crowd-verified location"),
        "guess": _("Unverified guess from the post text, not checked by the crowd"),
        "posted": _("Posted"),
        "source": _("Original post"),
        "answers": _("Answers"),
        "precision": _("Precision"),
        "radius": _("Uncertainty (68%)"),
        "review": _("Review"),
        "ambiguous": _("Ambiguous: the crowd placed it at more than one site"),
        "outside": _(
            "Outside this crisis's area or countries: probably a place of the same name elsewhere, or a photo of "
            "another event. Not a lead."
        ),
        "author": _("Author"),
        "coarse": _("Rounded location (public view)"),
        "live": _("Live"),
        "offline": _("Connection lost, retrying"),
        # The count's words in both forms; the script picks one with the language's plural rules.
        "points": {"one": _("verified point"), "other": _("verified points")},
        "guesses": {"one": _("text guess"), "other": _("text guesses")},
        "photo": _("Photo posted during the crisis"),
        "layerVerified": _("Crowd-verified locations"),
        "layerGuesses": _("Unverified text guesses"),
        "layerArea": _("Affected area"),
        "method": _("Found by"),
        "methods": {value: str(label) for value, label in PostGeolocation.Method.choices},
        "updated": _("updated"),
        "precisions": {"high": _("High"), "medium": _("Medium"), "low": _("Low")},
        "reviews": {
            "automatic": _("From the crowd, not reviewed"),
            "checked": _("Checked by a second volunteer before publication"),
            "coordinator": _("Checked by a coordinator before publication"),
            "accepted": _("Accepted by a reviewer"),
            "moved": _("Moved by a reviewer"),
        },
    }


def map_page(request: HttpRequest) -> HttpResponse:
    """The live map. Every filter and the view live in the query string, so a link shares what one sees."""
    accesses = selectors.map_accesses(user=request.user)
    config = {
        "featuresUrl": reverse("mapping:api-features"),
        "guessesUrl": reverse("mapping:api-guesses"),
        "exportUrl": reverse("mapping:api-export", args=["SLUG", "FMT"]),
        "dashboardUrl": reverse("mapping:dashboard", args=["SLUG"]),
        "tileUrl": settings.MAP_TILE_URL,
        "tileAttribution": settings.MAP_TILE_ATTRIBUTION,
        "pollSeconds": settings.MAP_LIVE_POLL_SECONDS,
        "publicDelayMinutes": int(settings.MAP_PUBLIC_DELAY.total_seconds() // 60),
        "publicGridM": settings.MAP_PUBLIC_GRID_M,
        "strings": _strings(),
        "crises": [
            {
                "slug": a.slug,
                "name": a.name,
                "hazard": a.hazard,
                "exact": a.exact,
                "coordinator": a.show_author,
                "area": a.affected_area,
                # Where the map opens on a crisis with no drawn area and no point yet: its countries.
                "countries": [] if a.affected_area else country_circles(country_codes=frozenset(a.country_codes)),
            }
            for a in accesses
        ],
    }
    context = {
        "config": config,
        "crises": accesses,
        "hazards": Crisis.Hazard.choices,
        "confidences": list(PRECISION_RANK),
        "formats": list(exports.FORMATS),
    }
    return render(request, "mapping/map.html", context)


def crisis_map(request: HttpRequest, slug: str) -> HttpResponse:
    """A crisis's map: the map page filtered to it (the link to put on the crisis page), with the rest of the
    query string (``guesses=1``, a view) kept."""
    crisis = get_object_or_404(Crisis, slug=slug)
    if selectors.crisis_access(user=request.user, crisis=crisis) is None:
        raise Http404("No such crisis.")
    query = request.GET.copy()
    query["crisis"] = slug
    return redirect(f"{reverse('mapping:map')}?{query.urlencode()}")


def dashboard_chart_strings() -> dict:
    """The words of the dashboard's charts and tables; ``{hours}`` is filled in by the script."""
    return {
        "ratings": _("ratings"),
        "geolocations": _("geolocations"),
        "reviews": _("reviews"),
        "located": _("located"),
        "predicted": _("predicted"),
        "images": _("images"),
        "medianTimeOnTask": _("median time on task (s)"),
        "shareHigh": _("share high precision"),
        "medianTimeToGeolocate": _("median time to geolocate (min)"),
        "labels": {
            "easy": _("easy"),
            "medium": _("medium"),
            "difficult": _("difficult"),
            "impossible": _("impossible"),
            "unscored": _("unscored"),
        },
        # {n} is the crisis's trusted_min_record.
        "checksRule": _(
            "A point the crowd agrees on is published once a volunteer with at least {n} correct checked answers, "
            "or a coordinator, has checked it."
        ),
        "checksRuleOff": _(
            "This crisis publishes points as soon as enough pins agree, without a check by a volunteer with a record."
        ),
        "awaitingCheck": _("points waiting for a check"),
        "awaitingReview": _("points waiting for a review"),
        "oldestWaiting": _("longest wait (min)"),
        "checkersActive": _("volunteers with a record active (last hour)"),
        "coordinatorOnly": _("checks and reviews only a coordinator can take now"),
        "noGeolocated": _("No geolocated images yet."),
        "noForecast": _("No forecast yet."),
        "noAnswersWindow": _("No geolocation answers in the last {hours} h: nothing to forecast from."),
        "activeVolunteersHour": _("active volunteers (last hour)"),
        "answersPerVolunteerHour": _("answers per volunteer-hour"),
        "answersPerPublished": _("answers per published image"),
        "publishedWithin": _("published within {hours}"),
        "hoursToClear": _("hours to clear easy + medium"),
        "volunteersNeeded": _("volunteers needed to clear easy + medium by {hours}"),
        "activeLastHour": _("active, last hour"),
        "activeLastDay": _("active, last 24 h"),
        "allTime": _("all time"),
        "textGuesses": _("unverified text guesses"),
        "fleiss": _("Fleiss' kappa"),
        "krippendorff": _("Krippendorff's alpha (ordinal)"),
        "warningRate": _("share of images asked for more ratings (unsure or tied)"),
        "ratingsCount": _("ratings"),
        "funnel": {
            "posts": _("posts"),
            "images": _("images"),
            "unique": _("unique"),
            "relevant": _("relevant"),
            "queued": _("queued"),
            "geolocated": _("geolocated"),
            "reviewed": _("reviewed"),
        },
    }


def dashboard_page(request: HttpRequest, slug: str) -> HttpResponse:
    crisis = get_object_or_404(Crisis, slug=slug)
    if not user_is_coordinator(user=request.user, crisis=crisis):
        raise Http404("No such crisis.")  # coordinators only; others learn nothing
    context = {
        "crisis": crisis,
        "config": {
            "dataUrl": reverse("mapping:api-dashboard", args=[slug]),
            "refreshSeconds": settings.MAP_DASHBOARD_MAX_AGE_SECONDS,
            "strings": {
                # {time} and {age} are filled in by the page's script.
                "dataOf": _("Data of {time}, {age} s ago; refreshed every %(n)d s.")
                % {"n": settings.MAP_DASHBOARD_MAX_AGE_SECONDS},
                "failed": _("Could not load the statistics: retrying. Data shown is of {time}."),
                "loading": _("Loading statistics…"),
                **dashboard_chart_strings(),
            },
        },
    }
    return render(request, "mapping/dashboard.html", context)


def media_image(request: HttpRequest, media_id: int) -> HttpResponse:
    """An image of the map. Responders and coordinators get the EXIF-free copy; everyone else the blurred copy of
    an image on a public crisis's map. A private crisis's volunteers see its photos only through their leases."""
    media = selectors.media_for_image(media_id=media_id)
    if media is None or not media.image:
        raise Http404("No such image.")
    crisis = media.crisis
    if not user_can_view_crisis(user=request.user, crisis=crisis):
        raise Http404("No such image.")
    exact = user_can_view_private_map(user=request.user, crisis=crisis)
    if not exact and not (
        crisis.is_public
        and selectors.media_shown_on_map(media=media, public_cutoff=timezone.now() - settings.MAP_PUBLIC_DELAY)
    ):
        raise Http404("No such image.")
    if exact and not request.GET.get("blurred"):
        return _served_copy(media, cache_control="private, max-age=3600")
    return _blurred_copy(media, cache_control="public, max-age=86400" if crisis.is_public else "private, max-age=3600")


def lease_image(request: HttpRequest, token: str) -> HttpResponse:
    """The image of a volunteer's lease (``services.volunteer_image_url``): for that volunteer, signed in, while
    the lease is open and the crisis visible to them; blurred when the crisis asks for it. Then a 404."""
    claims = services.lease_image_token_read(token=token)
    if claims is None or not request.user.is_authenticated or request.user.pk != claims[2]:
        raise Http404("No such image.")
    lease_id, media_id, _volunteer_id = claims
    lease = task_selectors.lease_get_for_page(lease_id=lease_id)
    now = timezone.now()
    if (
        lease is None
        or lease.volunteer_id != request.user.pk
        or lease.task.media_id != media_id
        or lease.state != Assignment.State.LEASED
        or lease.expires_at <= now
    ):
        raise Http404("This image's task has ended.")
    media = lease.task.media
    crisis = lease.task.crisis
    if not media.image or not user_can_view_crisis(user=request.user, crisis=crisis):
        raise Http404("No such image.")
    cache_control = f"private, max-age={min(lease.seconds_left(now), 600)}"
    if selectors.crisis_blurs_for_volunteers(crisis=crisis) and not user_can_view_private_map(
        user=request.user, crisis=crisis
    ):
        return _blurred_copy(media, cache_control=cache_control)
    return _served_copy(media, cache_control=cache_control)


def _served_copy(media, *, cache_control: str) -> HttpResponse:
    content_type = media.content_type if media.content_type.startswith("image/") else "image/jpeg"
    return stored_file_response(name=media.image.name, content_type=content_type, cache_control=cache_control)


def _blurred_copy(media, *, cache_control: str) -> HttpResponse:
    blurred = services.media_blur(media_id=media.pk)
    if blurred is None:
        raise Http404("No such image.")
    return stored_file_response(name=blurred.image.name, content_type="image/jpeg", cache_control=cache_control)
