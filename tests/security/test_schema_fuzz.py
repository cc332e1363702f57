"""schemathesis against our OpenAPI schema (drf-spectacular, ``/api/schema/``), in-process through Django's WSGI app.

Every operation gets ``EXAMPLES`` generated requests (derandomised: the same requests every run), sent as a signed-in
volunteer (session cookie) with a valid CSRF token pair, so POSTs reach the views instead of stopping at the CSRF
check (which ``test_csrf_and_rate_limits`` covers on its own). Path parameters are pointed at real rows half the
time (the crisis slug, the volunteer's own lease, a real export format) so the fuzzing gets past the 404s.

Checks: no 5xx, and every response of a documented status matches its schema (``response_schema_conformance``).
Undocumented status codes (a 400 or 404 the schema does not list) are allowed: drf-spectacular documents only what
a view declares, and the authorisation matrix pins those codes down.
"""

import pytest
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.test import Client
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from geoloc_platform.crises.models import Crisis
from tasks_app import services as task_services
from tests.mapping.conftest import make_point
from tests.tasks_app.conftest import queue

schemathesis = pytest.importorskip("schemathesis")

pytestmark = pytest.mark.django_db

EXAMPLES = 25
CSRF_SECRET = "a" * 32
# (method, path, status) whose body does not match the schema yet.
KNOWN_MISMATCHES: set[tuple[str, str, int]] = set()  # an unmasked CSRF secret: valid as cookie and header alike


@pytest.fixture
def world(people):
    crisis = people["crisis"]
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.ACTIVE, allow_anonymous=False)
    crisis.refresh_from_db()
    queue(crisis, eases=(0.9, 0.5, 0.2), with_file=True)
    make_point(crisis, lat=-30.03, lon=-51.22, with_image=True)
    lease = task_services.lease_grant(crisis=crisis, volunteer=people["volunteer"], kind="geolocation")
    client = Client()
    client.force_login(people["volunteer"], backend="django.contrib.auth.backends.ModelBackend")
    return {
        "crisis": crisis,
        "lease_id": lease.pk,
        "volunteer": people["volunteer"],
        "session": client.cookies["sessionid"].value,
    }


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As Django's test Client does: requests through the raw WSGI app must not close the test's connection
    (on PostgreSQL, request_finished closes a connection found inside a transaction, i.e. the test's)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _no_throttling(monkeypatch):
    """Hundreds of requests from one volunteer: the throttles are tested elsewhere, not here."""
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "allow_request", lambda self, request, view: True)
    cache.clear()


def test_the_api_survives_generated_requests_and_answers_as_documented(world, settings):
    settings.ALLOWED_HOSTS = ["*"]  # schemathesis's WSGI client sends Host: localhost
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    app = get_wsgi_application()
    schema = schemathesis.openapi.from_wsgi("/api/schema/", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    cookies = {"sessionid": world["session"], "csrftoken": CSRF_SECRET}
    headers = {"X-CSRFToken": CSRF_SECRET}
    failures = []
    statuses = set()

    for operation in operations:

        @hypothesis_settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],  # no shrinking: the failing request is printed as is
        )
        @given(case=operation.as_strategy(), real=st.booleans(), fmt=st.sampled_from(["geojson", "csv", "kml"]))
        def run(case, real, fmt):
            if real:
                params = case.path_parameters or {}
                if "slug" in params:
                    params["slug"] = world["crisis"].slug
                if "lease_id" in params:
                    params["lease_id"] = world["lease_id"]
                if "fmt" in params:
                    params["fmt"] = fmt
            response = case.call(cookies=cookies, headers=headers)
            statuses.add(response.status_code)
            checks = [not_a_server_error, response_schema_conformance]
            if (case.operation.method.upper(), case.operation.path, response.status_code) in KNOWN_MISMATCHES:
                checks = [not_a_server_error]  # see test_answer_validation_errors_have_the_documented_shape
            case.validate_response(response, checks=checks, headers=headers)

        try:
            run()
        except Exception as error:  # schemathesis raises a FailureGroup; report every operation's at once
            failures.append(f"{operation.label}: {error}"[:3000])
    assert not failures, "\n\n".join(failures)
    assert {200, 204} & statuses and 400 in statuses, statuses  # signed in and past CSRF: the views really ran


def test_answer_validation_errors_have_the_documented_shape(world):
    client = Client()
    client.force_login(world["volunteer"], backend="django.contrib.auth.backends.ModelBackend")
    response = client.post("/api/answers/", {"kind": "review", "lease_id": world["lease_id"]}, "application/json")
    assert response.status_code == 400
    assert {"code", "detail"} <= set(response.json())
