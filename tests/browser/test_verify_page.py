"""In a real browser: a volunteer with a track record checks a pin with the keyboard, and the point is published."""

import pytest

from consensus.models import LocationConsensus
from geoloc_platform.crises.services import crisis_transition
from tasks_app.models import Answer, Assignment, CrowdTask
from tests.browser.conftest import screenshot
from tests.conftest import PASSWORD, make_crisis, make_user
from tests.tasks_app.conftest import pin_the_next_image, queue, with_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PIN = (-30.0346, -51.2177)


@pytest.fixture
def pinned(db, settings):
    """An image one newcomer pinned with a Street View view: it waits for a check."""
    settings.CROWD_GOLD_RATE = 0
    coordinator = make_user("coord", is_staff=True)
    crisis = crisis_transition(
        crisis=make_crisis(slug="canoas-floods", coordinator=coordinator), action="launch", user=coordinator
    )
    (image,) = queue(crisis, eases=(0.9,), kinds=("geolocation",), with_file=True)
    pin_the_next_image(crisis, make_user("newcomer"), PIN[0])
    return crisis, image


def log_in(page, username: str, next_url: str) -> None:
    page.goto(next_url)
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{next_url}")


def test_a_volunteer_with_a_record_checks_a_pin_with_the_keyboard_and_publishes_it(page, pinned):
    crisis, image = pinned
    assert LocationConsensus.objects.get(media=image).status == "awaiting_verification"
    with_record(make_user("checker"), correct=40)
    log_in(page, "checker", f"/crises/{crisis.slug}/verify/")
    page.get_by_role("heading", name="Is this photo at this pin?").wait_for()
    page.locator("#task-map .leaflet-marker-icon").wait_for()
    page.locator("#verify-streetview-link").wait_for()  # no Embed key here: a link at the recorded view
    assert "heading=90" in page.locator("#verify-streetview-link").get_attribute("href")
    screenshot(page, "verification_page")

    page.keyboard.press("y")
    page.get_by_text("Nothing left for you right now").wait_for()
    check = Answer.objects.get(kind="verification")
    assert (check.verdict, check.lat, check.lon) == ("yes", PIN[0], PIN[1])
    consensus = LocationConsensus.objects.get(media=image)
    assert (consensus.status, consensus.trusted, consensus.precision) == ("done", True, "high")


def test_a_volunteer_without_a_record_is_told_how_to_earn_one(page, pinned, page_problems):
    crisis, _ = pinned
    make_user("ana")
    page_problems.allow(r"403")  # the page answers 403 on purpose
    log_in(page, "ana", f"/crises/{crisis.slug}/verify/")
    page.get_by_role("heading", name="Checks are for volunteers with a track record").wait_for()
    assert not Answer.objects.filter(kind="verification").exists()


def test_a_photo_that_cannot_be_loaded_says_so_and_the_check_is_given_back(page, pinned, page_problems):
    crisis, image = pinned
    image.image.delete(save=False)  # the file is gone from the disk: its URL answers 404
    page_problems.allow(r"HTTP 404: GET ")
    with_record(make_user("checker"), correct=40)
    log_in(page, "checker", f"/crises/{crisis.slug}/verify/")
    page.get_by_role("alert").get_by_text("The photo could not be loaded.").wait_for()
    check = CrowdTask.objects.get(media=image, kind="verification")
    page.get_by_role("button", name="Next image").click()
    page.get_by_text("Nothing left for you right now").wait_for()
    assert Assignment.objects.get(task=check).state == "skipped"  # back to the others, not answered
    assert not Answer.objects.filter(kind="verification").exists()


def test_a_pin_replaced_while_the_page_is_open_is_not_checked_blindly(page, pinned, page_problems):
    """Another pin replaces the one on screen: the verdict is refused, the page says so and shows the new pin."""
    crisis, image = pinned
    with_record(make_user("checker"), correct=40)
    log_in(page, "checker", f"/crises/{crisis.slug}/verify/")
    page.locator("#task-map .leaflet-marker-icon").wait_for()
    moved = (-30.0300, -51.2100)
    CrowdTask.objects.filter(media=image, kind="verification").update(reference_lat=moved[0], reference_lon=moved[1])
    page_problems.allow(r"HTTP 409: POST ")  # the refusal the page handles
    page.keyboard.press("y")
    page.get_by_text("Another pin replaced the one you were checking").wait_for()
    page.wait_for_function(  # null-safe: between the two documents there is no task data yet
        "lat => document.readyState === 'complete' && (e => e !== null && JSON.parse(e.textContent).reference.lat"
        " === lat)(document.getElementById('task-data'))",
        arg=moved[0],
    )
    assert not Answer.objects.filter(kind="verification").exists()
    page.keyboard.press("y")
    page.get_by_text("Nothing left for you right now").wait_for()
    assert Answer.objects.get(kind="verification").lat == moved[0]
