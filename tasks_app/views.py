"""Volunteer pages: the crisis's work hub, the rating page (paper's Figure 3), the geolocation and review pages.

A task page leases the volunteer's next task when it renders (or resumes the running lease on a reload); the
page's script answers through the API and reloads for the next one.
"""

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from classification.selectors import country_circles
from geoloc_platform.accounts.services import guest_account_create
from geoloc_platform.client_address import client_address
from geoloc_platform.crises.models import Crisis
from geoloc_platform.crises.selectors import user_can_contribute, user_email_confirmed
from mapping.selectors import crisis_map_visible
from tasks_app import selectors, services
from tasks_app.apis import crisis_for, lease_payload
from tasks_app.errors import NoTrackRecord
from tasks_app.models import Answer, CrowdTask, Report

TEMPLATES = {
    CrowdTask.Kind.RATING: "tasks_app/rate.html",
    CrowdTask.Kind.GEOLOCATION: "tasks_app/geolocate.html",
    CrowdTask.Kind.REVIEW: "tasks_app/geolocate.html",
    CrowdTask.Kind.VERIFICATION: "tasks_app/verify.html",
}


def crisis_work(request: HttpRequest, slug: str) -> HttpResponse:
    """The volunteer hub of a crisis: instructions, what to do next, my progress, the leaderboard."""
    crisis = crisis_for(request, slug)
    services.leaderboard_fresh(crisis=crisis)
    context = {
        "crisis": crisis,
        "can_contribute": user_can_contribute(user=request.user, crisis=crisis),
        "queue": selectors.crisis_queue_summary(crisis=crisis),
        "needs_email_confirmation": (
            crisis.require_email_confirmation
            and request.user.is_authenticated
            and not user_email_confirmed(user=request.user)
        ),
        "has_record": (
            request.user.is_authenticated and selectors.volunteer_has_record(volunteer=request.user, crisis=crisis)
        ),
        "leaderboard": selectors.leaderboard_top(crisis=crisis, limit=settings.CROWD_LEADERBOARD_SIZE),
        "leaderboard_config": {
            "url": reverse("tasks_app:api-leaderboard", args=[crisis.slug]),
            "refreshSeconds": settings.CROWD_LEADERBOARD_MAX_AGE_SECONDS,
            # {time} and {age} are filled in by the page's script.
            "dataOf": _("Updated at {time}, {age} s ago."),
            "failed": _("Could not update the leaderboard: retrying."),
            "empty": _("No answers yet: be the first."),
        },
        "progress": (
            selectors.volunteer_progress(crisis=crisis, volunteer=request.user)
            if request.user.is_authenticated
            else None
        ),
    }
    return render(request, "tasks_app/work.html", context)


def js_messages() -> dict:
    """Texts the page's script shows, translated here so one catalogue serves templates and script.

    ``{n}``, ``{distance}`` and ``{precision}`` are filled in by the script.
    """
    return {
        "sending": _("Sending…"),
        "thanks": _("Thank you! Loading the next image…"),
        "skipped": _("Skipped. Loading the next image…"),
        "failed": _("That did not work. Please try again."),
        "offline": _("No connection: your answer was not sent. Try again in a moment."),
        "expired": _("Your time on this image ran out and it went to other volunteers. Skip to get a new one."),
        "expired_soft": _("Time is up, but you can still submit while the image needs answers."),
        "place_pin": _("Click the map to place the pin first (or choose 'Cannot geolocate')."),
        "pin": _("Your pin: drag to adjust"),
        "pin_at": _("Pin at"),
        "guess": _("Place suggested by the post's text"),
        "reference": _("Location to review"),
        "gold": _("The known location of this practice image"),
        "streetview": _("Street View at the pin"),
        "others_first": _("You are the first to answer this image."),
        "others_count": _("Other volunteers who answered so far: {n}"),
        "others_pin": _("{distance} m from your pin ({precision})"),
        "others_pin_no_own": _("a pin ({precision})"),
        "others_cannot": _("could not geolocate it: {n}"),
        "others_failed": _("Could not load the other answers."),
        "saved": _("Your last answer was saved. Thank you!"),
        "expired_gone": _(
            "Your time on this image ran out and it already has the answers it needs, so yours was not needed. "
            "Loading a new image…"
        ),
        "server_error": _("The server could not take your answer just now. Wait a moment and press Submit again."),
        "image_failed": _("The photo could not be loaded."),
        "page_broken": _("The page stopped working."),
        "no_place": _("No place of that name found. Try another spelling, or move the map yourself."),
        "search_failed": _("The place search is not answering. Move the map yourself, or try again."),
        "difficulty": {value: str(label) for value, label in Answer.Difficulty.choices},
        "precision": {value: str(label) for value, label in Answer.Precision.choices},
        "verdict": {value: str(label) for value, label in Answer.Verdict.choices},
    }


def verify_messages() -> dict:
    """Texts of the verification page's script (static/tasks_app/verify.js)."""
    return {
        "checked_pin": _("The pin to check"),
        "streetview_view": _("Street View at the view the volunteer recorded"),
        "no_view": _("The volunteer recorded no Street View view: compare the photo with the map and the link."),
        "pin_changed": _("Another pin replaced the one you were checking: the page now shows the new one."),
    }


def task_page(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    crisis = crisis_for(request, slug)
    if not request.user.is_authenticated:
        if not user_can_contribute(user=request.user, crisis=crisis):
            return redirect_to_login(request.get_full_path())
        # The crisis takes anonymous help: a guest account, kept in the session, carries this person's answers.
        guest = guest_account_create(client_address=client_address(request))
        if guest is None:
            return render(request, "tasks_app/closed.html", {"crisis": crisis, "too_many_guests": True}, status=429)
        login(request, guest, backend="django.contrib.auth.backends.ModelBackend")
    if not user_can_contribute(user=request.user, crisis=crisis):
        return render(request, "tasks_app/closed.html", {"crisis": crisis}, status=403)
    try:
        assignment = services.lease_grant(crisis=crisis, volunteer=request.user, kind=kind)
    except NoTrackRecord:
        return render(request, "tasks_app/no_record.html", _no_record_context(crisis, request.user), status=403)
    if assignment is None:
        map_visible = crisis_map_visible(user=request.user, crisis=crisis)
        return render(request, "tasks_app/empty.html", {"crisis": crisis, "kind": kind, "map_visible": map_visible})
    assignment = selectors.lease_get_for_page(lease_id=assignment.pk)
    payload = lease_payload(assignment)
    guess = payload["text_guess"]
    page_data = {
        **payload,
        "expires_at": assignment.expires_at.isoformat(),
        "posted_at": None,
        "crisis_area": crisis.affected_area,
        # Without a drawn area, where the map opens when the text names no place: the crisis's countries.
        "crisis_countries": []
        if crisis.affected_area
        else country_circles(country_codes=frozenset(crisis.country_codes or ())),
        "tile_url": settings.MAP_TILE_URL,
        "tile_attribution": settings.MAP_TILE_ATTRIBUTION,
        "heartbeat_seconds": settings.CROWD_HEARTBEAT_INTERVAL_SECONDS,
        "google_maps_embed_key": settings.GOOGLE_MAPS_EMBED_KEY,
        "mapillary_token": settings.MAPILLARY_TOKEN,
        "urls": {
            "answer": reverse("tasks_app:api-answer-submit"),
            "heartbeat": reverse("tasks_app:api-lease-heartbeat", args=[assignment.pk]),
            "skip": reverse("tasks_app:api-lease-skip", args=[assignment.pk]),
            "places": reverse("tasks_app:api-places", args=[crisis.slug]),
        },
    }
    context = {
        "crisis": crisis,
        "assignment": assignment,
        "task": assignment.task,
        "kind": kind,
        "payload": payload,
        "page_data": page_data,
        "segments": selectors.text_segments(text=payload["post_text"], spans=payload["place_spans"]),
        "guess": guess,
        "difficulties": Answer.Difficulty.choices,
        "precisions": Answer.Precision.choices,
        "clues": Answer.Clue.choices,
        "report_reasons": Report.Reason.choices,
        "js_messages": {**js_messages(), **verify_messages()} if kind == CrowdTask.Kind.VERIFICATION else js_messages(),
    }
    return render(request, TEMPLATES[kind], context)


def _no_record_context(crisis: Crisis, volunteer) -> dict:
    """How far the volunteer is from the crisis's trust rule: what the page tells them to do next."""
    standing = selectors.volunteer_standings(crisis=crisis, volunteer_ids=[volunteer.pk])[volunteer.pk]
    return {
        "crisis": crisis,
        "min_record": crisis.trusted_min_record,
        "guest": selectors.is_guest(volunteer),
        "correct": standing.record_correct,
        "checked": standing.record_checked,
        "accuracy_short": standing.record_correct >= crisis.trusted_min_record,
        "min_accuracy_percent": round(100 * settings.CROWD_RECORD_MIN_ACCURACY),
    }
