"""In a real browser: every page, as each role, under the site's Content-Security-Policy, raises no
``securitypolicyviolation`` event (an inline script, handler or style, an eval, a foreign script or frame).

The pages: the public and volunteer pages of a crisis with work in it, the map, the dashboard, the API docs
(Swagger UI), the account pages, and the admin: its index and, for every registered model, the change list, the
add page and the change page of one row, as a coordinator and as a superuser.
"""

import re

import pytest
from django.contrib.admin.sites import site as admin_site
from django.test import Client
from django.urls import NoReverseMatch, reverse

from geoloc_platform.crises.models import Crisis
from tests.browser.conftest import TILE_PNG
from tests.mapping.conftest import make_point
from tests.tasks_app.conftest import queue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROLES = ["anonymous", "volunteer", "responder", "coordinator", "superuser"]
# Registered before any page script runs; the page's own code cannot hide a violation from it.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push(event.violatedDirective + " blocked " + (event.blockedURI || "inline") +
    " at " + (event.sourceFile || event.documentURI) + ":" + event.lineNumber + " " + (event.sample || ""));
});
"""


@pytest.fixture
def world(people):
    crisis = people["crisis"]
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.ACTIVE)
    crisis.refresh_from_db()
    queue(crisis, eases=(0.9, 0.5, 0.2), with_file=True)
    make_point(crisis, lat=-30.03, lon=-51.22, with_image=True)
    return people


def public_pages(crisis) -> list[str]:
    slug = crisis.slug
    per_crisis = ["crises:detail", "tasks_app:work", "tasks_app:rate", "tasks_app:geolocate", "tasks_app:review"]
    per_crisis += ["tasks_app:verify", "mapping:dashboard"]
    pages = [reverse(name, args=[slug]) for name in per_crisis]
    pages += [reverse(name) for name in ("crises:list", "mapping:map", "accounts:login", "accounts:sign_up")]
    return [*pages, f"{reverse('mapping:map')}?crisis={slug}", reverse("api-docs")]


def admin_pages(superuser) -> list[str]:
    """The admin index and, per registered model, its change list, add page and the change page of one row."""
    pages = ["/admin/"]
    for model, model_admin in admin_site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        try:
            pages.append(reverse("admin:{}_{}_changelist".format(*info)))
            pages.append(reverse("admin:{}_{}_add".format(*info)))
        except NoReverseMatch:
            continue
        row = model_admin.get_queryset(_request_as(superuser)).first()
        if row is not None:
            pages.append(reverse("admin:{}_{}_change".format(*info), args=[row.pk]))
    return pages


def _request_as(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def context_for(browser, live_server, people, role: str):
    context = browser.new_context(base_url=live_server.url)
    context.add_init_script(RECORD_VIOLATIONS)
    context.route(
        re.compile(r"https://[a-z.]*tile\.openstreetmap\.org/.*"),
        lambda route: route.fulfill(status=200, content_type="image/png", body=TILE_PNG),
    )
    if role != "anonymous":
        client = Client()
        client.force_login(people[role], backend="django.contrib.auth.backends.ModelBackend")
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    return context


def violations_on(page, url: str) -> list[str]:
    response = page.goto(url, wait_until="load")
    assert response is not None, url
    assert "script-src 'self'" in (response.headers.get("content-security-policy") or ""), url
    page.wait_for_timeout(300)  # scripts started at load (maps, Swagger UI) get to run
    return page.evaluate("window.__cspViolations")


@pytest.mark.parametrize("role", ROLES)
def test_no_page_violates_the_content_security_policy(browser, live_server, world, role):
    pages = public_pages(world["crisis"])
    if role in ("coordinator", "superuser"):
        pages += admin_pages(world["superuser"])
    context = context_for(browser, live_server, world, role)
    page = context.new_page()
    page.set_default_timeout(20_000)
    found = {}
    try:
        for url in pages:
            seen = violations_on(page, url)
            if seen:
                found[url] = seen
    finally:
        context.close()
    assert not found, "\n".join(f"{url}: {seen}" for url, seen in found.items())


def test_an_injected_inline_script_is_blocked_and_reported(browser, live_server, world):
    """The listener is live: a script the page did not ship is refused and seen."""
    context = context_for(browser, live_server, world, "anonymous")
    page = context.new_page()
    try:
        page.goto("/")
        page.evaluate(
            """() => { const s = document.createElement("script"); s.textContent = "window.__ran = 1";
                       document.body.appendChild(s); }"""
        )
        page.wait_for_timeout(200)
        assert page.evaluate("window.__ran") is None
        assert any("script-src" in violation for violation in page.evaluate("window.__cspViolations"))
    finally:
        context.close()
