"""CSRF on every state-changing form and API call; rate limits on login (django-axes), answers, next task, exports.

CSRF: a browser client (``enforce_csrf_checks=True``) that is signed in, as the victim of a cross-site form would
be, POSTs without the token: 403, and the database shows nothing changed. The same request with the token passes
(so the 403 is the CSRF check, not a permission).

Rate limits: the configured rates are replaced by tiny ones; the request after the limit gets 429.
"""

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from geoloc_platform.crises.models import Crisis
from tasks_app import services as task_services
from tasks_app.models import Answer, Assignment
from tests.conftest import PASSWORD
from tests.mapping.conftest import make_point
from tests.tasks_app.conftest import queue

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # throttle and lockout counters live in the cache
    yield
    cache.clear()


@pytest.fixture
def active(people):
    crisis = people["crisis"]
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.ACTIVE)
    crisis.refresh_from_db()
    queue(crisis, eases=(0.9, 0.5), with_file=True)
    return crisis


def browser(user=None) -> Client:
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def with_token(client: Client) -> dict:
    """What a same-site page sends: the csrftoken cookie (set by a page view) and the X-CSRFToken header."""
    client.get(reverse("accounts:login"))
    return {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


# --- CSRF ---------------------------------------------------------------------------------------------------


def _snapshot(crisis, volunteer):
    crisis.refresh_from_db()
    return {
        "answers": Answer.objects.count(),
        "leases": sorted(Assignment.objects.values_list("pk", "state")),
        "users": User.objects.count(),
        "crisis": (crisis.status, crisis.name),
        "volunteer_active": User.objects.get(pk=volunteer.pk).is_active,
    }


def _api_calls(crisis, lease_id):
    return [
        (reverse("tasks_app:api-task-next", args=[crisis.slug]), {"kind": "rating"}),
        (reverse("tasks_app:api-answer-submit"), {"lease_id": lease_id, "kind": "geolocation", "precision": "cannot"}),
        (reverse("tasks_app:api-lease-heartbeat", args=[lease_id]), {}),
        (reverse("tasks_app:api-lease-skip", args=[lease_id]), {}),
    ]


def test_state_changing_api_calls_without_a_csrf_token_are_refused_and_change_nothing(people, active):
    volunteer = people["volunteer"]
    lease = task_services.lease_grant(crisis=active, volunteer=volunteer, kind="geolocation")
    before = _snapshot(active, volunteer)
    client = browser(volunteer)
    for url, body in _api_calls(active, lease.pk):
        response = client.post(url, body, content_type="application/json")
        assert response.status_code == 403, url
        assert "CSRF" in response.json()["detail"], url
    assert _snapshot(active, volunteer) == before

    # The same calls from the platform's own pages (token sent) go through: the 403 above was the CSRF check.
    token = with_token(client)
    answer_url, answer_body = _api_calls(active, lease.pk)[1]
    assert client.post(answer_url, answer_body, content_type="application/json", **token).status_code == 201


def test_forms_without_a_csrf_token_are_refused_and_change_nothing(people, active):
    volunteer, coordinator = people["volunteer"], people["coordinator"]
    before = _snapshot(active, volunteer)

    anonymous = browser()
    sign_up = {"username": "mallory", "email": "m@example.org", "password1": PASSWORD, "password2": PASSWORD}
    assert anonymous.post(reverse("accounts:sign_up"), sign_up).status_code == 403
    login = {"username": "volunteer", "password": PASSWORD}
    assert anonymous.post(reverse("accounts:login"), login).status_code == 403
    assert "_auth_user_id" not in anonymous.session  # no login CSRF: nobody was signed in

    signed_in = browser(volunteer)
    assert signed_in.post(reverse("accounts:logout")).status_code == 403
    assert signed_in.post(reverse("set_language"), {"language": "pt", "next": "/"}).status_code == 403
    assert "django_language" not in signed_in.cookies
    assert "_auth_user_id" in signed_in.session  # still signed in: a forged logout did nothing

    admin = browser(coordinator)
    change = reverse("admin:crises_crisis_change", args=[active.pk])
    assert admin.post(change, {"name": "Hijacked"}).status_code == 403
    action = {"action": "pause_crises", "_selected_action": [active.pk]}
    assert admin.post(reverse("admin:crises_crisis_changelist"), action).status_code == 403

    assert _snapshot(active, volunteer) == before

    # With the token the sign-up form works (the 403s were the CSRF check).
    token = with_token(anonymous)
    assert anonymous.post(reverse("accounts:sign_up"), sign_up, **token).status_code == 302
    assert User.objects.filter(username="mallory").exists()


# --- Rate limits --------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_rates(monkeypatch):
    """DRF reads its rates into SimpleRateThrottle.THROTTLE_RATES at import: patch that dict for the test."""
    from rest_framework.throttling import SimpleRateThrottle

    rates = {
        **SimpleRateThrottle.THROTTLE_RATES,
        "crowd_next": "2/min",
        "crowd_answer": "2/min",
        "map_export": "2/hour",
    }
    rates.update({"user": "1000/min", "anon": "1000/min"})
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    return rates


def test_next_task_and_answers_return_429_after_the_configured_rate(people, active, tiny_rates):
    client = Client()
    client.force_login(people["volunteer"], backend="django.contrib.auth.backends.ModelBackend")
    next_url = reverse("tasks_app:api-task-next", args=[active.slug])
    codes = [client.post(next_url, {"kind": "rating"}, "application/json").status_code for _ in range(3)]
    assert codes == [200, 200, 429]

    answer_url = reverse("tasks_app:api-answer-submit")
    codes = [client.post(answer_url, {}, "application/json").status_code for _ in range(3)]
    assert codes == [400, 400, 429]
    assert Answer.objects.count() == 0

    # Another volunteer has their own budget.
    other = Client()
    other.force_login(people["responder"], backend="django.contrib.auth.backends.ModelBackend")
    assert other.post(next_url, {"kind": "rating"}, "application/json").status_code == 200


def test_exports_return_429_after_the_configured_rate(people, active, tiny_rates):
    make_point(active)
    url = reverse("mapping:api-export", args=[active.slug, "csv"])
    client = Client()
    codes = [client.get(url).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert "Retry-After" in client.get(url)


def test_login_is_locked_after_repeated_failures(people, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    url = reverse("accounts:login")
    wrong = {"username": "volunteer", "password": "not-the-password"}
    codes = [client.post(url, wrong).status_code for _ in range(3)]
    assert codes[:2] == [200, 200]  # the form again, with an error
    # Locked now: even the right password is refused, and the session stays anonymous.
    locked = client.post(url, {"username": "volunteer", "password": PASSWORD})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    # The lock is per username and address: another account from the same address still signs in.
    other = Client()
    assert other.post(url, {"username": "responder", "password": PASSWORD}).status_code == 302
