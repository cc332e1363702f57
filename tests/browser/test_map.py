"""In a real browser: a responder opens the live map, a new consensus appears without reload, a popup opens
(post text shown as text, not markup), and a filter narrows the points. Tiles are blocked: the data still shows."""

import re

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from geoloc_platform.crises.models import Crisis
from tests.browser.conftest import crisis_without_area_in_zedland, screenshot
from tests.conftest import jpeg_bytes, make_crisis, make_user
from tests.mapping.conftest import make_point

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS = '<img src=x onerror="document.body.dataset.pwned=1">Rua Voluntários da Pátria under water'


def sign_in(page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def points_shown(page) -> int:
    return int(page.locator("#disaster-map").get_attribute("data-points") or "0")


def test_a_responder_watches_new_points_arrive_opens_a_popup_and_filters(page, live_server):
    from geoloc_platform.crises.models import CrisisMembership

    crisis = make_crisis()
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.ACTIVE, visibility=Crisis.Visibility.PRIVATE)
    responder = make_user("responder")
    CrisisMembership.objects.create(crisis=crisis, user=responder, role=CrisisMembership.Role.RESPONDER)
    make_point(crisis, lat=-30.03, lon=-51.22, radius=150, precision="high", text=XSS, with_image=True)
    make_point(crisis, lat=-30.05, lon=-51.18, radius=400, precision="low", text="Bridge closed")

    sign_in(page, live_server, responder)
    page.goto(f"/map/?crisis={crisis.slug}&lat=-30.04&lon=-51.2&z=13")
    page.wait_for_function("document.querySelector('#disaster-map').dataset.points === '2'")
    page.get_by_text("Live").wait_for()
    screenshot(page, "map_responder_loaded")

    # A consensus reached while the page is open shows up without a reload (polling the since cursor).
    make_point(crisis, lat=-30.02, lon=-51.16, radius=80, precision="medium", text="New: shelter at the school")
    page.wait_for_function("document.querySelector('#disaster-map').dataset.points === '3'", timeout=8000)
    screenshot(page, "map_live_point_arrived")

    # Open the popup of the high-precision point: its text is shown literally, never run as markup.
    page.locator("path.leaflet-interactive[stroke='#1a9850']").first.click()
    popup = page.locator(".map-popup")
    popup.wait_for()
    assert "onerror" in popup.locator(".map-popup-text").inner_text()
    assert page.evaluate("document.body.dataset.pwned") is None
    assert popup.locator("img.map-popup-image").count() == 1
    page.wait_for_timeout(500)  # let the popup fade in and the map pan to it before the screenshot
    screenshot(page, "map_popup_open")

    # A filter narrows the points and is kept in the URL (a shareable link).
    page.keyboard.press("Escape")
    page.select_option("#filter-confidence", "medium")
    page.wait_for_function("document.querySelector('#disaster-map').dataset.points === '2'")
    assert "confidence=medium" in page.url
    # Without a tile server (a responder offline in the field), the map says so and the data still shows.
    page.context.route(re.compile(r"https://[a-z.]*tile\.openstreetmap\.org/.*"), lambda route: route.abort())
    page.reload()
    page.wait_for_function("document.querySelector('#disaster-map').dataset.points === '2'")
    assert page.locator("#filter-confidence").input_value() == "medium"
    page.locator("#map-tiles-failed").wait_for()
    screenshot(page, "map_filtered")
    assert points_shown(page) == 2


def test_a_coordinator_sees_the_dashboard_charts(page, live_server):
    from geoloc_platform.accounts.services import coordinator_grant, role_groups_ensure

    role_groups_ensure()
    coordinator = coordinator_grant(user=make_user("coordinator"))
    crisis = make_crisis(coordinator=coordinator)
    make_point(crisis, precision="high")
    make_point(crisis, precision="low", lat=-30.05)
    sign_in(page, live_server, coordinator)
    page.goto(f"/crises/{crisis.slug}/dashboard/")
    page.locator("#dash-funnel rect.dash-bar").first.wait_for()
    # No answers here, so no time on task to plot: the panel still counts the images by predicted difficulty.
    page.locator("#dash-difficulty figcaption", has_text="unscored (2)").wait_for()
    assert page.locator("#dash-funnel rect.dash-bar").count() == 7
    assert page.locator("#dash-computed").inner_text().startswith("Data of ")
    screenshot(page, "dashboard")


def test_on_a_phone_the_responder_sees_the_map_first_with_the_filters_folded_away(browser, live_server, page_problems):
    from tests.browser.conftest import PHONE, new_page

    crisis = make_crisis()
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.ACTIVE)
    responder = make_user("responder")
    from geoloc_platform.crises.models import CrisisMembership

    CrisisMembership.objects.create(crisis=crisis, user=responder, role=CrisisMembership.Role.RESPONDER)
    make_point(crisis, lat=-30.03, lon=-51.22, radius=150, precision="high", text="Shelter at the school")
    page = new_page(browser, live_server, page_problems, viewport=PHONE)
    sign_in(page, live_server, responder)
    page.goto(f"/map/?crisis={crisis.slug}&lat=-30.04&lon=-51.2&z=13")
    page.wait_for_function("document.querySelector('#disaster-map').dataset.points === '1'")
    box = page.locator("#disaster-map").bounding_box()
    assert box["y"] < 200 and box["y"] + box["height"] <= PHONE["height"], box  # the whole map on the first screen
    assert page.locator("#filter-confidence").is_hidden()
    assert page.locator("#map-filter-fold summary").inner_text().startswith("Filters (1)")  # the crisis filter
    screenshot(page, "map_phone")
    page.locator("#map-filter-fold summary").click()
    page.select_option("#filter-confidence", "high")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_function("new URLSearchParams(location.search).get('confidence') === 'high'")
    page.context.close()


@pytest.mark.parametrize(
    ("evidence", "review_line", "dashed"),
    [
        ({"volunteers": 2, "coordinators": 1, "checks": 1}, "Checked by a coordinator before publication", False),
        ({"volunteers": 3, "with_record": 1, "best_record": 12, "checks": 1}, "Checked by a second volunteer", True),
        ({"volunteers": 3, "with_record": 1, "best_record": 12, "checks": 0}, "From the crowd, not reviewed", True),
    ],
)
def test_the_popup_says_who_checked_a_point_before_it_was_published(page, live_server, evidence, review_line, dashed):
    """A point a coordinator confirmed on a verification task never reads "not reviewed", and is drawn solid."""
    from consensus.models import LocationConsensus
    from geoloc_platform.crises.models import CrisisMembership

    crisis = make_crisis()
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.ACTIVE)
    responder = make_user("responder")
    CrisisMembership.objects.create(crisis=crisis, user=responder, role=CrisisMembership.Role.RESPONDER)
    media = make_point(crisis, lat=-30.03, lon=-51.22, radius=150, precision="high", with_image=True)
    LocationConsensus.objects.filter(media=media).update(trusted=True, evidence=evidence)

    sign_in(page, live_server, responder)
    page.goto(f"/map/?crisis={crisis.slug}&lat=-30.03&lon=-51.22&z=14")
    page.wait_for_function("document.querySelector('#disaster-map').dataset.points === '1'")
    assert page.locator("#map-count").inner_text() == "1 verified point"
    circle = page.locator("path.leaflet-interactive[stroke='#1a9850']")
    assert (circle.get_attribute("stroke-dasharray") is not None) is dashed
    circle.click()
    facts = page.locator(".map-popup .map-popup-facts")
    facts.wait_for()
    assert review_line in facts.inner_text()


def test_a_text_guess_abroad_is_drawn_grey_and_the_popup_says_it_is_no_lead(page, live_server):
    """Without a drawn area the crisis's countries are its extent: a guess naming a place elsewhere is not a lead."""
    from classification.models import PostGeolocation
    from crawling.models import Media, Post
    from geoloc_platform.crises.models import CrisisMembership

    crisis = make_crisis()
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.ACTIVE, country_codes=["BR"], affected_area=None)
    responder = make_user("responder")
    CrisisMembership.objects.create(crisis=crisis, user=responder, role=CrisisMembership.Role.RESPONDER)
    for key, lon, country, radius_km in (("home", -51.22, "BR", 0.5), ("abroad", -51.16, "NP", 2.5)):
        post = Post.objects.create(crisis=crisis, source="mastodon", source_id=key, text=f"Flooding, {key}")
        media = Media.objects.create(crisis=crisis, post=post, stage=Media.Stage.QUEUED)
        media.image.save(f"{key}.jpg", ContentFile(jpeg_bytes()), save=True)
        candidates = [{"name": key, "lat": -30.03, "lon": lon, "country_code": country}]
        PostGeolocation.objects.create(
            post=post, lat=-30.03, lon=lon, radius_km=radius_km, method="gazetteer", candidates=candidates
        )

    sign_in(page, live_server, responder)
    page.goto(f"/map/?crisis={crisis.slug}&lat=-30.03&lon=-51.19&z=13&guesses=1")
    page.wait_for_function("document.querySelector('#map-count').textContent.includes('2 text guesses')")
    assert page.locator("path.leaflet-interactive[stroke='#7b3294']").count() == 1
    page.locator("path.leaflet-interactive[stroke='#8a8a8a']").click()
    popup = page.locator(".map-popup")
    popup.wait_for()
    assert "Flooding, abroad" in popup.inner_text()
    assert "Not a lead" in popup.locator(".map-popup-warn").inner_text()
    assert "Offline gazetteer" in popup.locator(".map-popup-facts").inner_text()
    assert "± 2.5 km" in popup.locator(".map-popup-facts").inner_text()
    page.wait_for_timeout(500)  # let the popup fade in and the map pan to it before the screenshot
    screenshot(page, "map_guess_abroad")


def test_a_crisis_with_no_drawn_area_and_no_point_yet_opens_on_its_countries(page, live_server):
    from geoloc_platform.crises.models import CrisisMembership

    crisis = make_crisis()
    crisis_without_area_in_zedland(crisis)
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.ACTIVE)
    responder = make_user("responder")
    CrisisMembership.objects.create(crisis=crisis, user=responder, role=CrisisMembership.Role.RESPONDER)

    sign_in(page, live_server, responder)
    page.goto(f"/map/?crisis={crisis.slug}")
    page.get_by_text("Live").wait_for()
    # The view is written to the address once it settles; before the fix it stayed on the world's centre, zoom 2.
    page.wait_for_function("Math.abs(parseFloat(new URLSearchParams(location.search).get('lat')) + 12) < 1")
    view = page.evaluate("Object.fromEntries(new URLSearchParams(location.search))")
    assert abs(float(view["lon"]) - 40.0) < 1 and int(view["z"]) >= 4
    screenshot(page, "map_crisis_countries")
