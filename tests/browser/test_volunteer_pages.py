"""In a real browser: a volunteer rates images with the keyboard, geolocates one on the map, sees the countdown."""

import re

import pytest

from geoloc_platform.crises.services import crisis_transition
from tasks_app import services
from tasks_app.models import Answer, Assignment
from tests.browser.conftest import screenshot, wait_for_task_page
from tests.conftest import PASSWORD, make_crisis, make_user
from tests.tasks_app.conftest import queue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def crisis(db):
    coordinator = make_user("coord", is_staff=True)
    crisis = make_crisis(slug="canoas-floods", coordinator=coordinator, volunteer_instructions="Look for street signs.")
    return crisis_transition(crisis=crisis, action="launch", user=coordinator)


def log_in(page, next_url: str) -> None:
    make_user("ana")
    page.goto(next_url)  # the task page sends anonymous visitors to the login form and back
    page.fill("#id_username", "ana")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{next_url}")


def test_a_volunteer_rates_images_with_the_keyboard(page, crisis):
    first, second = queue(crisis, eases=(0.9, 0.4), with_file=True)
    log_in(page, f"/crises/{crisis.slug}/rate/")
    page.get_by_role("heading", name="How difficult is it to find where this photo was taken?").wait_for()
    page.wait_for_function("document.getElementById('task-image').complete")
    screenshot(page, "volunteer_rating_page")

    first_task = Assignment.objects.get().task_id  # read before the answer is written (one shared SQLite database)
    page.keyboard.press("1")  # Easy
    wait_for_task_page(page, leaving=first_task)
    page.keyboard.press("4")  # Impossible
    page.get_by_text("Nothing left for you right now").wait_for()

    answers = list(Answer.objects.order_by("pk").values_list("media_id", "difficulty", "kind"))
    assert answers == [(first.pk, "easy", "rating"), (second.pk, "impossible", "rating")]


def test_a_volunteer_geolocates_an_image_by_clicking_the_map(page, crisis):
    (image,) = queue(crisis, eases=(0.9,), with_file=True)
    log_in(page, f"/crises/{crisis.slug}/geolocate/")
    page.locator("#task-map.leaflet-container").wait_for()
    page.locator("#task-map").click(position={"x": 200, "y": 150})
    page.get_by_text(re.compile(r"Pin at -?\d+\.\d+, -?\d+\.\d+")).wait_for()
    page.keyboard.press("h")  # High precision
    page.get_by_label("Sign text").check()
    page.locator("summary", has_text="How I found it").click()
    page.fill("#answer-note", "Matched the street sign.")
    screenshot(page, "volunteer_geolocation_page_pinned")
    page.get_by_role("button", name=re.compile("Submit")).click()
    page.get_by_text("Nothing left for you right now").wait_for()

    answer = Answer.objects.get()
    assert (answer.media_id, answer.kind, answer.precision) == (image.pk, "geolocation", "high")
    assert answer.clue_tags == ["sign_text"] and answer.note == "Matched the street sign."
    # The map opened on the crisis area (no text guess), so the pin is inside it.
    assert -30.3 < answer.lat < -29.8 and -51.4 < answer.lon < -50.9


def test_the_lease_countdown_shows_and_runs_down(page, crisis, settings):
    settings.CROWD_LEASE_SECONDS = 90
    queue(crisis, eases=(0.9,), with_file=True)
    log_in(page, f"/crises/{crisis.slug}/geolocate/")
    remaining = page.locator("#lease-remaining")
    remaining.wait_for()
    first = remaining.inner_text()
    assert re.fullmatch(r"1:[0-3]\d", first), first
    page.wait_for_function("t => document.getElementById('lease-remaining').textContent !== t", arg=first)
    assert page.locator("#lease-countdown").is_visible()


def test_the_geolocation_page_fits_a_phone(page, crisis):
    queue(crisis, eases=(0.9,), with_file=True)
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, f"/crises/{crisis.slug}/geolocate/")
    page.locator("#task-map.leaflet-container").wait_for()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    screenshot(page, "volunteer_geolocation_page_phone")


def test_after_answering_a_volunteer_may_see_how_others_answered(page, crisis):
    (image,) = queue(crisis, eases=(0.9,), with_file=True)
    for name, difficulty in (("bruno", "easy"), ("carla", "medium")):
        answerer = make_user(name)
        lease = services.lease_grant(crisis=crisis, volunteer=answerer, kind="rating")
        services.answer_submit(volunteer=answerer, lease_id=lease.pk, kind="rating", difficulty=difficulty)
    log_in(page, f"/crises/{crisis.slug}/rate/")
    page.wait_for_function("document.getElementById('task-image').complete")
    assert page.locator("#others-panel").is_hidden()  # nothing of the others before answering
    page.get_by_label("After I answer, show how others answered").check()

    page.keyboard.press("1")  # Easy
    panel = page.get_by_role("region", name="How others answered")
    panel.get_by_text("Other volunteers who answered so far: 2").wait_for()
    assert panel.get_by_role("listitem").all_inner_texts() == ["Easy: 1", "Medium: 1"]
    screenshot(page, "volunteer_rating_others_answers")
    page.keyboard.press("Enter")  # the focused "Next image" button
    page.get_by_text("Nothing left for you right now").wait_for()
    assert Answer.objects.filter(media=image).count() == 3
