"""Malformed request bodies against every write endpoint of the API: always a 400 in JSON, never a 500 or HTML.

The endpoints are found in the URL configuration (every DRF view with a POST, PUT, PATCH or DELETE handler), so
an endpoint added later is fuzzed without editing this file. Path parameters point at real rows (the crisis, the
volunteer's lease, an answer), so the body is parsed by the view rather than refused by a 404 first.
"""

import json

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.views import APIView

from geoloc_platform.crises.models import Crisis
from tasks_app import services as task_services
from tests.tasks_app.conftest import queue

WRITE_METHODS = ("post", "put", "patch", "delete")


def write_endpoints() -> list[tuple[str, str, list[str]]]:
    """(method, route, path parameter names) of every DRF view that accepts a body."""
    found = []

    def walk(patterns, prefix: str):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                view_class = getattr(pattern.callback, "cls", None)
                if view_class is None or not issubclass(view_class, APIView):
                    continue
                route = prefix + str(pattern.pattern)
                names = list(pattern.pattern.converters) if hasattr(pattern.pattern, "converters") else []
                found.extend((method, route, names) for method in WRITE_METHODS if hasattr(view_class, method))

    walk(get_resolver().url_patterns, "/")
    return found


ENDPOINTS = write_endpoints()
TOO_DEEP = "{" + '"a":{' * 20_000 + "}" * 20_001
MALFORMED = {
    "nested objects": (TOO_DEEP.encode(), "application/json"),
    "nested arrays": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "invalid utf-8": (b'{"kind": "\xff\xfe\xc3(", "lease_id": 1}', "application/json"),
    "utf-16 declared utf-8": ('{"kind": "r\u00e9view"}'.encode("utf-16"), "application/json; charset=utf-8"),
    "unknown charset": (b'{"kind": "rating"}', "application/json; charset=x-no-such-codec"),
    "truncated json": (b'{"kind": "rat', "application/json"),
    "nan": (b'{"lat": NaN, "lon": Infinity, "lease_id": 1}', "application/json"),
    "scalar": (b'"rating"', "application/json"),
    "null": (b"null", "application/json"),
    "list": (b'[{"kind": "rating"}]', "application/json"),
    "too large": (b'{"kind": "' + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + b'"}', "application/json"),
    "broken multipart": (b"--x\r\nContent-Disposition: form-data\r\n\r\nno end", "multipart/form-data; boundary=x"),
    "multipart without boundary": (b"kind=rating", "multipart/form-data"),
    "form with bad percent-encoding": (b"kind=%ff%fe&lease_id=%", "application/x-www-form-urlencoded"),
    "too many form fields": (
        "&".join(f"f{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)).encode(),
        "application/x-www-form-urlencoded",
    ),
}

MUST_BE_400 = (
    "nested objects", "nested arrays", "invalid utf-8", "utf-16 declared utf-8", "unknown charset", "truncated json",
    "nan", "too large", "too many form fields",
)  # fmt: skip


@pytest.fixture
def world(people):
    crisis = people["crisis"]
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.ACTIVE)
    crisis.refresh_from_db()
    queue(crisis, eases=(0.9, 0.5), with_file=True)
    lease = task_services.lease_grant(crisis=crisis, volunteer=people["volunteer"], kind="geolocation")
    client = Client(raise_request_exception=False)
    client.force_login(people["volunteer"], backend="django.contrib.auth.backends.ModelBackend")
    values = {"slug": crisis.slug, "lease_id": str(lease.pk), "answer_id": "1", "fmt": "csv", "pk": "1"}
    return {"client": client, "values": values}


@pytest.fixture(autouse=True)
def _no_throttling(monkeypatch):
    """Hundreds of requests from one volunteer: the throttles are tested elsewhere."""
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "allow_request", lambda self, request, view: True)


def concrete(route: str, names: list[str], values: dict) -> str:
    path = route
    for name in names:
        start = path.index("<")
        path = path[:start] + values.get(name, "1") + path[path.index(">", start) + 1 :]
    return path


def send(client: Client, method: str, path: str, body: bytes, content_type: str):
    # generic(): the bytes go out as they are (post() would re-encode them in the declared charset).
    return client.generic(method.upper(), path, body, content_type)


def assert_json_client_error(response, what: str) -> dict:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.content[:300]!r}"
    assert response["Content-Type"].startswith("application/json"), f"{what}: {response['Content-Type']}"
    body = json.loads(response.content)
    assert {"code", "detail"} <= set(body), f"{what}: {body}"
    return body


def test_the_api_has_write_endpoints_to_fuzz():
    routes = {route for _, route, _ in ENDPOINTS}
    assert "/api/answers/" in routes and len(ENDPOINTS) >= 4, ENDPOINTS


@pytest.mark.parametrize(("method", "route", "names"), ENDPOINTS, ids=[f"{m} {r}" for m, r, _ in ENDPOINTS])
@pytest.mark.parametrize("kind", list(MALFORMED))
def test_a_malformed_body_is_a_400_in_json(world, method, route, names, kind):
    body, content_type = MALFORMED[kind]
    response = send(world["client"], method, concrete(route, names, world["values"]), body, content_type)
    if kind in MUST_BE_400:
        assert response.status_code == 400, (kind, response.status_code, response.content[:300])
    if response.status_code >= 300:  # a body without the fields an endpoint reads may still be accepted
        assert_json_client_error(response, f"{method} {route} {kind}")


@pytest.mark.parametrize(("method", "route", "names"), ENDPOINTS, ids=[f"{m} {r}" for m, r, _ in ENDPOINTS])
def test_random_bytes_under_any_content_type_never_make_a_server_error(world, method, route, names):
    path = concrete(route, names, world["values"])

    @hypothesis_settings(
        max_examples=40, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(
        body=st.one_of(
            st.binary(max_size=300),
            st.recursive(
                st.none() | st.booleans() | st.floats() | st.text(max_size=20) | st.integers(),
                lambda children: st.lists(children) | st.dictionaries(st.text(max_size=10), children),
                max_leaves=60,
            ).map(lambda value: json.dumps(value).encode()),
        ),
        content_type=st.sampled_from(
            ["application/json", "application/json; charset=latin-1", "multipart/form-data; boundary=b",
             "application/x-www-form-urlencoded", "text/plain", "application/octet-stream"]
        ),
    )  # fmt: skip
    def run(body, content_type):
        response = send(world["client"], method, path, body, content_type)
        if response.status_code >= 300:
            assert_json_client_error(response, f"{method} {route} {content_type} {body[:80]!r}")

    run()
