"""In a real browser: script payloads in a crisis's name and instructions, a post's text, URL and alt text, an
author handle and a username are shown as text on the crisis page, the volunteer hub, the rating and geolocation
pages, the map popup and the admin change pages; no script runs (``window.__xss`` stays undefined, no dialog)."""

import pytest
from django.test import Client

from crawling.models import Media, Post
from geoloc_platform.crises.models import Crisis
from tests.browser.conftest import screenshot
from tests.conftest import make_crisis, make_user
from tests.mapping.conftest import make_point
from tests.tasks_app.conftest import queue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=1">'
JS_URL = "javascript:window.__xss=1"
TEXT = f"Flooded bridge {SCRIPT} {IMG} near the market"


def sign_in(page, live_server, user) -> None:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def assert_inert(page, *, shown: str | None = None, links: bool = True) -> None:
    """No payload ran, no javascript: link is clickable, and (if given) the payload text is on the page as text."""
    page.wait_for_load_state("load")
    page.wait_for_timeout(200)  # an onerror handler fires after the broken image fails to load
    assert page.evaluate("typeof window.__xss") == "undefined", page.url
    if links:
        assert page.locator("a[href^='javascript:' i]").count() == 0, page.url
    if shown is not None:
        assert shown in page.locator("body").inner_text(), (page.url, shown)


@pytest.fixture
def hostile(live_server):
    from geoloc_platform.accounts.services import coordinator_grant

    coordinator = coordinator_grant(user=make_user("coordinator"))
    crisis = make_crisis(
        slug="hostile-floods",
        name=f"Floods {IMG}",
        coordinator=coordinator,
        volunteer_instructions=f"Look for signs. {TEXT}",
        description=TEXT,
    )
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.ACTIVE)
    (media,) = queue(crisis, eases=(0.9,), with_file=True)
    Post.objects.filter(pk=media.post_id).update(text=TEXT, url=JS_URL, author_handle=IMG)
    Media.objects.filter(pk=media.pk).update(alt_text=f"Alt {IMG}")
    point = make_point(crisis, text=TEXT, author=IMG, url=JS_URL, precision="high", with_image=True)
    volunteer = make_user(IMG)  # usernames made outside the sign-up form are not validated
    superuser = make_user("root", is_staff=True, is_superuser=True)
    return {"crisis": crisis, "media": media, "point": point, "volunteer": volunteer, "superuser": superuser}


def test_script_payloads_are_shown_as_text_on_every_page(page, live_server, hostile):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    crisis = hostile["crisis"]

    sign_in(page, live_server, hostile["volunteer"])
    page.goto(f"/crises/{crisis.slug}/")
    assert_inert(page, shown=SCRIPT)
    page.goto(f"/crises/{crisis.slug}/work/")
    assert_inert(page, shown=IMG)  # instructions, and the volunteer's own name in the header
    screenshot(page, "xss_volunteer_hub")

    page.goto(f"/crises/{crisis.slug}/rate/")
    page.locator("#task-image").wait_for()
    assert_inert(page, shown=SCRIPT)
    assert page.locator("#task-image").get_attribute("alt") == f"Alt {IMG}"
    screenshot(page, "xss_rating_page")
    page.goto(f"/crises/{crisis.slug}/geolocate/")
    page.locator("#task-map.leaflet-container").wait_for()
    assert_inert(page, shown=SCRIPT, links=False)
    screenshot(page, "xss_geolocation_page")

    sign_in(page, live_server, hostile["superuser"])  # sees exact points and authors at once (no public delay)
    page.goto(f"/map/?crisis={crisis.slug}&lat=-30.03&lon=-51.22&z=13")
    page.wait_for_function("Number(document.querySelector('#disaster-map').dataset.points) >= 1")
    page.locator("path.leaflet-interactive[stroke='#1a9850']").first.click()
    popup = page.locator(".map-popup")
    popup.wait_for()
    assert SCRIPT in popup.inner_text() and IMG in popup.inner_text()
    assert_inert(page)
    page.wait_for_timeout(300)
    screenshot(page, "xss_map_popup")

    admin_pages = [
        f"/admin/crises/crisis/{crisis.pk}/change/",
        f"/admin/crawling/post/{hostile['point'].post_id}/change/",
        f"/admin/crawling/media/{hostile['media'].pk}/change/",
        f"/admin/auth/user/{hostile['volunteer'].pk}/change/",
        "/admin/crawling/post/",
        "/admin/auth/user/",
    ]
    for url in admin_pages:
        response = page.goto(url)
        assert response.status == 200, url
        assert_inert(page)
        assert "window.__xss=1" in page.content(), url  # the payload is there, escaped
    screenshot(page, "xss_admin_user_list")
    assert dialogs == []


def test_the_original_post_link_never_has_a_javascript_url(page, live_server, hostile):
    sign_in(page, live_server, hostile["volunteer"])
    page.goto(f"/crises/{hostile['crisis'].slug}/geolocate/")
    page.locator("#task-map.leaflet-container").wait_for()
    assert page.locator("a[href^='javascript:' i]").count() == 0
