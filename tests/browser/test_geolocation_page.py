"""The geolocation page in every state a volunteer meets, in a real browser.

Every test fails on a page error, console error or failed request (tests/browser/conftest.py). The crisis area is
the square around Porto Alegre of tests/conftest.py; guesses are stored as the text geolocation stage stores them.
"""

import json
import re

import pytest

from classification.models import PostGeolocation
from consensus.evidence import OUTSIDE_THE_AREA
from geoloc_platform.crises.services import crisis_transition
from tasks_app import services
from tasks_app.models import Answer, Assignment, CrowdTask, Report
from tests.browser.conftest import PHONE, crisis_without_area_in_zedland, screenshot, wait_for_task_page
from tests.conftest import PASSWORD, make_crisis, make_user
from tests.tasks_app.conftest import queue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PIN = re.compile(r"Pin at (-?\d+\.\d+), (-?\d+\.\d+)")
BOOM = "function () { throw new Error('boom'); };"


@pytest.fixture
def crisis(db):
    coordinator = make_user("coord", is_staff=True)
    crisis = make_crisis(slug="canoas-floods", coordinator=coordinator, geolocation_redundancy=3)
    return crisis_transition(crisis=crisis, action="launch", user=coordinator)


def text_guess(media, *, lat, lon, radius_km, candidates=(), method="gazetteer", span=None, country=""):
    """The text geolocation stage's result for the image's post; ``country`` is its candidates' country code."""
    spans = []
    if span:
        start = media.post.text.index(span)
        spans = [{"start": start, "end": start + len(span), "text": span, "source": "post"}]
    PostGeolocation.objects.create(
        post=media.post,
        lat=lat,
        lon=lon,
        radius_km=radius_km,
        method=method,
        candidates=[
            {"name": name, "lat": c_lat, "lon": c_lon, "kind": "".join(kind), "country_code": country}
            for name, c_lat, c_lon, *kind in candidates
        ],
        spans=spans,
    )


def log_in(page, username: str, next_url: str) -> None:
    make_user(username)
    page.goto(next_url)  # the task page sends anonymous visitors to the login form and back
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{next_url}")
    page.locator("#task-map.leaflet-container").wait_for()


def pin_at_map_centre(page) -> tuple[float, float]:
    """Press P (pin the map's centre) and read where the pin went."""
    page.locator("#task-map").focus()
    page.keyboard.press("p")
    return pin_readout(page)


def pin_readout(page) -> tuple[float, float]:
    match = PIN.search(page.locator("#pin-readout").inner_text())
    assert match, page.locator("#pin-readout").inner_text()
    return float(match.group(1)), float(match.group(2))


def pin_after_clicking(page, button) -> tuple[float, float]:
    """Click a button that moves the map and pin its centre at once (the page's own moves are instant)."""
    button.click()
    return pin_at_map_centre(page)


def assert_in_the_crisis_area(lat: float, lon: float) -> None:
    assert -30.2 < lat < -29.9 and -51.3 < lon < -51.0


def map_zoom(page) -> int:
    """The zoom level of the map, read from the tiles Leaflet asked for."""
    tile = page.locator("#task-map img.leaflet-tile").first
    tile.wait_for(state="attached")
    return int(re.search(r"/(\d+)/\d+/\d+\.png", tile.get_attribute("src")).group(1))


def answer_body(page, action) -> dict:
    with page.expect_request(lambda request: request.url.endswith("/api/answers/")) as request:
        action()
    return json.loads(request.value.post_data)


def test_without_a_text_guess_the_map_shows_the_crisis_area(page, crisis):
    queue(crisis, eases=(0.9,), with_file=True)
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    assert page.locator("#guess-explainer").count() == 0
    assert_in_the_crisis_area(*pin_at_map_centre(page))
    screenshot(page, "geolocate_no_guess")


def test_a_point_guess_is_an_area_to_search_and_the_pin_records_what_the_volunteer_did(page, crisis):
    (image,) = queue(crisis, eases=(0.9,), with_file=True)
    text_guess(image, lat=-30.0277, lon=-51.2287, radius_km=0.05, span="Flooded")
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    page.get_by_text("It is a guess, not an answer").wait_for()
    # No marker to click at the guess: only the dashed circle, drawn as a path.
    assert page.locator("#task-map .leaflet-marker-icon").count() == 0
    assert page.locator("#task-map path[stroke-dasharray]").count() == 1
    screenshot(page, "geolocate_point_guess")

    lat, lon = pin_at_map_centre(page)
    assert abs(lat + 30.0277) < 0.01 and abs(lon + 51.2287) < 0.01
    body = answer_body(page, lambda: page.get_by_role("button", name=re.compile("Submit")).click())
    assert body["interaction"] == {
        "map_moved": False,
        "map_zoomed": False,
        "place_searched": False,
        "streetview_opened": False,
    }
    page.get_by_text("Nothing left for you right now").wait_for()
    # The answer that emptied the queue is confirmed there too.
    assert page.locator("#crowd-saved").inner_text() == "Your last answer was saved. Thank you!"
    assert Answer.objects.get().media_id == image.pk


def test_the_pages_own_moves_are_not_recorded_as_the_volunteers(page, crisis):
    """The page's moves are instant: a place clicked while the map still flew to the whole crisis area was dropped
    (Leaflet ignores a move during a zoom animation), and a pin pressed at once landed on the way. A volunteer who
    only clicks the text's places and pins the centre has searched nothing, and the answer says so."""
    (image,) = queue(crisis, eases=(0.9,), with_file=True)
    text_guess(image, lat=-30.0277, lon=-51.2287, radius_km=3, candidates=[("Centro", -30.0277, -51.2287),
                                                                        ("Sarandi", -29.99, -51.13)])  # fmt: skip
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    page.get_by_role("button", name="Show the whole crisis area").click()
    lat, lon = pin_after_clicking(page, page.locator("#guess-candidates").get_by_role("button", name="Sarandi"))
    assert abs(lat + 29.99) < 0.001 and abs(lon + 51.13) < 0.001
    body = answer_body(page, lambda: page.keyboard.press("Enter"))
    assert not any(body["interaction"].values()), body["interaction"]
    page.get_by_text("Nothing left for you right now").wait_for()  # the answer stored before the test ends


def test_moving_and_zooming_the_map_is_recorded(page, crisis):
    (image,) = queue(crisis, eases=(0.9,), with_file=True)
    text_guess(image, lat=-30.0277, lon=-51.2287, radius_km=2)
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    page.locator("#task-map").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("+")
    page.wait_for_timeout(400)
    page.keyboard.press("p")
    body = answer_body(page, lambda: page.keyboard.press("Enter"))
    assert body["interaction"]["map_moved"] and body["interaction"]["map_zoomed"]
    page.get_by_text("Nothing left for you right now").wait_for()


def test_a_wide_guess_opens_on_the_crisis_area_it_contains(page, crisis):
    (image,) = queue(crisis, eases=(0.9,), with_file=True)
    text_guess(image, lat=-30.0, lon=-53.5, radius_km=300)  # "Rio Grande do Sul": the whole state
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    page.get_by_text("only names a wide region").wait_for()
    assert_in_the_crisis_area(*pin_at_map_centre(page))
    assert map_zoom(page) >= 9
    screenshot(page, "geolocate_region_guess")


def test_a_state_whose_68_percent_circle_misses_the_area_is_a_wide_region_not_a_namesake(page, crisis):
    (image,) = queue(crisis, eases=(0.9,), with_file=True)
    text_guess(image, lat=-29.84, lon=-53.77, radius_km=151)  # the state the crisis area lies in, from a hashtag
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    page.get_by_text("only names a wide region").wait_for()
    assert page.locator("#guess-outside-area").count() == 0


def test_without_a_crisis_area_a_country_guess_shows_the_country(page, crisis):
    type(crisis).objects.filter(pk=crisis.pk).update(affected_area=None)
    (image,) = queue(crisis, eases=(0.9,), with_file=True)
    text_guess(image, lat=-10.0, lon=-55.0, radius_km=1650)  # "Brazil"
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    assert map_zoom(page) <= 5
    screenshot(page, "geolocate_country_guess")


def test_without_a_crisis_area_or_a_text_place_the_map_opens_on_the_crisis_countries(page, crisis):
    crisis_without_area_in_zedland(crisis)
    queue(crisis, eases=(0.9,), with_file=True)  # its post names no place: no guess
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    lat, lon = pin_at_map_centre(page)
    assert abs(lat + 12.0) < 1 and abs(lon - 40.0) < 1  # not the whole world's centre
    assert 4 <= map_zoom(page) <= 7
    screenshot(page, "geolocate_crisis_countries")


def test_a_guess_abroad_is_shown_and_a_button_takes_the_map_to_the_crisis_countries(page, crisis):
    crisis_without_area_in_zedland(crisis)
    (image,) = queue(crisis, eases=(0.9,), with_file=True)
    text_guess(
        image, lat=28.0, lon=84.0, radius_km=100, candidates=[("Elsewhere", 28.0, 84.0, "country")], country="YY"
    )
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    page.locator("#guess-outside-countries").wait_for()
    lat, lon = pin_at_map_centre(page)
    assert abs(lat - 28.0) < 1 and abs(lon - 84.0) < 1  # the page shows where the text points, announced
    lat, lon = pin_after_clicking(page, page.get_by_role("button", name="Show the crisis's countries"))
    assert abs(lat + 12.0) < 1 and abs(lon - 40.0) < 1
    screenshot(page, "geolocate_guess_abroad_countries")


def test_several_candidate_places_can_each_be_visited(page, crisis):
    (image,) = queue(crisis, eases=(0.9,), with_file=True)
    text_guess(
        image,
        lat=-29.9178,
        lon=-51.1839,
        radius_km=19,
        candidates=[("Canoas", -29.9178, -51.1839), ("Porto Alegre", -30.0331, -51.23)],
    )
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    candidates = page.locator("#guess-candidates")
    assert candidates.get_by_role("button").all_inner_texts() == ["Canoas", "Porto Alegre"]
    screenshot(page, "geolocate_candidates")
    lat, lon = pin_after_clicking(page, candidates.get_by_role("button", name="Porto Alegre"))
    assert abs(lat + 30.0331) < 0.02 and abs(lon + 51.23) < 0.02


def test_places_of_one_name_say_on_their_buttons_what_they_are(page, crisis):
    """Two buttons that both read "Eldorado do Sul" (the town and its municipality) told a volunteer nothing."""
    (image,) = queue(crisis, eases=(0.9,), with_file=True)
    town, municipality = ("Eldorado do Sul", -29.999, -51.308, "city"), ("Eldorado do Sul", -30.084, -51.616, "admin2")
    text_guess(image, lat=-29.999, lon=-51.308, radius_km=1, candidates=[town, municipality])
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    buttons = page.locator("#guess-candidates").get_by_role("button")
    assert buttons.all_inner_texts() == ["Eldorado do Sul (town)", "Eldorado do Sul (county or municipality)"]
    assert page.locator(".crowd-candidate-label").all_inner_texts() == buttons.all_inner_texts()  # the map's too
    screenshot(page, "geolocate_candidates_of_one_name")


def test_a_guess_outside_the_crisis_area_is_said_to_be_doubtful_and_the_map_opens_on_the_area(page, crisis):
    (image,) = queue(crisis, eases=(0.9,), with_file=True)
    text_guess(image, lat=-23.6678, lon=-46.4613, radius_km=8)  # a namesake 850 km away
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    page.locator("#guess-outside-area").wait_for()
    assert_in_the_crisis_area(*pin_at_map_centre(page))
    screenshot(page, "geolocate_guess_outside_area")
    lat, lon = pin_after_clicking(page, page.get_by_role("button", name="Show the place the text suggests"))
    assert abs(lat + 23.6678) < 0.1 and abs(lon + 46.4613) < 0.1


def test_a_caption_naming_only_places_outside_the_area_says_so_and_gives_no_guess(page, crisis):
    """The resolver kept the crisis area (a fallback) because every place named lies outside it: the volunteer is
    told what the text names, and the map opens on the area with nothing to confirm."""
    (image,) = queue(crisis, eases=(0.9,), with_file=True)
    PostGeolocation.objects.create(
        post=image.post,
        lat=-30.03,
        lon=-51.2,
        radius_km=40,
        method="crisis_area",
        is_fallback=True,
        candidates=[
            {"name": "Farville", "mention": "Farville", "lat": -23.6678, "lon": -46.4613, "outside_area": True},
            {"name": "Farville", "mention": "Farville", "lat": -23.9, "lon": -46.6, "outside_area": True},
        ],
    )
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    note = page.locator("#guess-outside-places")
    note.get_by_text("names only places outside the crisis area").wait_for()
    assert note.get_by_role("button").all_inner_texts() == ["Farville (outside the area)"]  # one per name
    assert page.locator("#guess-explainer").count() == 0
    assert page.locator("#task-map path[stroke-dasharray]").count() == 0  # no dashed guess to confirm
    assert_in_the_crisis_area(*pin_at_map_centre(page))
    screenshot(page, "geolocate_caption_outside_area")
    lat, lon = pin_after_clicking(page, note.get_by_role("button", name="Farville (outside the area)"))
    assert abs(lat + 23.6678) < 0.1 and abs(lon + 46.4613) < 0.1


def test_enter_then_p_before_the_places_arrive_pins_the_place_once_the_map_is_there(page, crisis):
    """A fast volunteer types the name, Enter, P: the pin waits for the server's answer instead of landing on the
    map's old centre (it did, and the map then jumped away from it)."""
    queue(crisis, eases=(0.9,), with_file=True)
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")

    def slow_places(route):
        page.wait_for_timeout(300)  # the search still in flight when P is pressed
        route.continue_()

    page.route(re.compile(r".*/api/crises/[^/]+/places/.*"), slow_places)
    page.fill("#place-search", "Porto Aleg")
    page.keyboard.press("Enter")
    page.keyboard.press("p")
    page.locator("#place-search-note").get_by_text("Porto Alegre").wait_for()
    lat, lon = pin_readout(page)
    assert abs(lat + 30.03) < 0.05 and abs(lon + 51.2) < 0.05


def test_the_place_search_moves_the_map_and_enter_takes_the_first_place(page, crisis):
    queue(crisis, eases=(0.9,), with_file=True)
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    page.fill("#place-search", "Porto Aleg")
    page.locator("#place-results button").first.wait_for()
    screenshot(page, "geolocate_place_search")
    # The list lies over the map: its own button, not the map's zoom button, is under the pointer at its left.
    box = page.locator("#place-results button").first.bounding_box()
    on_top = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('#place-results') !== null",
        [box["x"] + 20, box["y"] + box["height"] - 4],
    )
    assert on_top
    page.keyboard.press("Enter")  # the places shown: the map is there at once, and P pins it
    page.keyboard.press("p")
    lat, lon = pin_readout(page)
    assert abs(lat + 30.03) < 0.05 and abs(lon + 51.2) < 0.05
    body = answer_body(page, lambda: page.keyboard.press("Enter"))
    assert body["interaction"]["place_searched"] is True
    page.get_by_text("Nothing left for you right now").wait_for()


def test_the_place_search_says_when_nothing_matches(page, crisis):
    queue(crisis, eases=(0.9,), with_file=True)
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    page.fill("#place-search", "Zzyzxq")
    page.get_by_text("No place of that name found").wait_for()


def test_street_view_without_a_key_links_out_at_the_pin(page, crisis):
    queue(crisis, eases=(0.9,), with_file=True)
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    page.keyboard.press("v")
    page.get_by_text("Place the pin first").wait_for()
    lat, lon = pin_at_map_centre(page)
    link = page.get_by_role("link", name="Open Street View at the pin")
    assert f"viewpoint={lat},{lon}" in link.get_attribute("href")
    assert page.get_by_role("link", name="Open Mapillary at the pin").count() == 0  # no token configured
    body = answer_body(page, lambda: page.get_by_role("button", name=re.compile("Submit")).click())
    assert body["interaction"]["streetview_opened"] is True
    page.get_by_text("Nothing left for you right now").wait_for()


def test_street_view_with_a_key_embeds_the_panorama_and_mapillary_links_out(page, crisis, settings):
    settings.GOOGLE_MAPS_EMBED_KEY = "browser-key-123"
    settings.MAPILLARY_TOKEN = "MLY|client-token"
    page.context.route(
        re.compile(r"https://www\.google\.com/maps/embed/.*"),
        lambda route: route.fulfill(status=200, content_type="text/html", body="<title>pano</title>"),
    )
    queue(crisis, eases=(0.9,), with_file=True)
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    lat, lon = pin_at_map_centre(page)
    page.keyboard.press("v")
    frame = page.locator("#streetview-embed iframe")
    frame.wait_for()
    page.wait_for_function("document.querySelector('#streetview-embed iframe').src.includes('key=')")
    src = frame.get_attribute("src")
    assert "key=browser-key-123" in src and f"location={lat},{lon}" in src
    mapillary = page.get_by_role("link", name="Open Mapillary at the pin")
    assert f"lat={lat}" in mapillary.get_attribute("href")
    page.get_by_label("I matched the photo in Street View").check()
    page.keyboard.press("h")
    page.get_by_role("button", name=re.compile("Submit")).click()
    page.get_by_text("Nothing left for you right now").wait_for()
    answer = Answer.objects.get()
    assert (answer.precision, answer.pano_lat, answer.pano_lon) == ("high", lat, lon)


def test_skip_and_report_give_the_image_back(page, crisis):
    first, _second = queue(crisis, eases=(0.9, 0.8), with_file=True)
    # Read before the click: an in-memory SQLite database shared with the live server's thread locks the table
    # while the server writes the skip.
    first_task = CrowdTask.objects.get(media=first, kind="geolocation").pk
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    page.locator("summary", has_text="How I found it").click()
    page.select_option("#report-reason", "not_this_crisis")
    page.get_by_role("button", name=re.compile("Skip")).click()
    # The next image's scripts listen for keys once its page has loaded.
    wait_for_task_page(page, leaving=first_task)
    report = Report.objects.get()
    assert (report.media_id, report.reason) == (first.pk, "not_this_crisis")
    page.keyboard.press("s")
    page.get_by_text("Nothing left for you right now").wait_for()
    assert set(Assignment.objects.values_list("state", flat=True)) == {"skipped"}


def test_the_next_image_opens_at_the_top_of_the_page(page, crisis):
    first, _second = queue(crisis, eases=(0.9, 0.8), with_file=True)
    first_task = CrowdTask.objects.get(media=first, kind="geolocation").pk
    page.set_viewport_size({"width": 1280, "height": 600})  # the Skip and Submit buttons lie below the fold
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    skip = page.get_by_role("button", name=re.compile("Skip"))
    skip.scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 0
    skip.click()
    wait_for_task_page(page, leaving=first_task)
    page.locator("#task-map.leaflet-container").wait_for()
    assert page.evaluate("window.scrollY") == 0


def test_a_lease_that_expired_while_the_page_was_open_is_explained_and_the_volunteer_goes_on(page, crisis):
    (image,) = queue(crisis, eases=(0.9,), with_file=True)
    CrowdTask.objects.filter(media=image, kind="geolocation").update(redundancy=1)
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    # Meanwhile the lease ran out, another volunteer answered, and the image needs no more answers.
    lease = Assignment.objects.get()
    Assignment.objects.filter(pk=lease.pk).update(expires_at=lease.leased_at)
    assert services.lease_expire_due() == 1
    other = make_user("bruno")
    theirs = services.lease_grant(crisis=crisis, volunteer=other, kind="geolocation")
    assert theirs.task_id == lease.task_id
    services.answer_submit(
        volunteer=other, lease_id=theirs.pk, kind="geolocation", lat=-30.0, lon=-51.1, precision="medium"
    )
    services.crowd_task_retire(task_id=lease.task_id, reason="Consensus reached.")

    pin_at_map_centre(page)
    page.get_by_role("button", name=re.compile("Submit")).click()
    page.get_by_text("Your time on this image ran out").wait_for()
    screenshot(page, "geolocate_lease_expired")
    page.get_by_text("Nothing left for you right now").wait_for()
    assert list(Answer.objects.values_list("volunteer__username", flat=True)) == ["bruno"]


def test_a_volunteer_answers_with_the_keyboard_only(page, crisis):
    (image,) = queue(crisis, eases=(0.9,), with_file=True)
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    page.keyboard.press("f")
    page.keyboard.type("Porto Alegre")
    page.keyboard.press("Enter")  # gives the map the focus, and goes to the first place once found
    page.locator("#place-search-note").get_by_text("Porto Alegre").wait_for()
    for key in ("ArrowUp", "ArrowLeft", "-", "p", "l"):
        page.keyboard.press(key)
    assert PIN.search(page.locator("#pin-readout").inner_text())
    page.keyboard.press("Enter")
    page.get_by_text("Nothing left for you right now").wait_for()
    answer = Answer.objects.get()
    assert (answer.media_id, answer.precision) == (image.pk, "low")


def test_on_a_phone_the_page_fits_and_a_tap_places_the_pin(browser, live_server, page_problems, crisis):
    from tests.browser.conftest import new_page

    (image,) = queue(crisis, eases=(0.9,), with_file=True)
    text_guess(image, lat=-30.0277, lon=-51.2287, radius_km=3)
    page = new_page(browser, live_server, page_problems, viewport=PHONE)
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width}px)"
    page.locator("#task-map").scroll_into_view_if_needed()
    page.locator("#task-map").click(position={"x": 120, "y": 100})
    assert PIN.search(page.locator("#pin-readout").inner_text())
    screenshot(page, "geolocate_phone")
    page.get_by_role("button", name=re.compile("Submit")).click()
    page.get_by_text("Nothing left for you right now").wait_for()
    page.context.close()


def test_the_review_page_accepts_the_location_with_two_keys(page, crisis):
    (image,) = queue(crisis, eases=(0.9,), kinds=("rating",), with_file=True)
    services.crowd_review_task_create(
        media_id=image.pk, lat=-30.0277, lon=-51.2287, radius_m=120, reason=OUTSIDE_THE_AREA, reason_values={"km": 12}
    )
    reviewer = make_user("rita")
    services.volunteer_skill_set(user_id=reviewer.pk, skill=0.8, record=(40, 42, 20))
    page.goto(f"/crises/{crisis.slug}/review/")
    page.fill("#id_username", "rita")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator("#task-map.leaflet-container").wait_for()
    assert page.locator("#task-map .leaflet-marker-icon").count() == 1  # the location under review
    reason = "the pins are 12 km outside the crisis area: a coordinator checks it"
    assert page.locator("#review-reason").inner_text() == f"Why it needs a review: {reason}"
    screenshot(page, "review_page")
    page.keyboard.press("a")
    page.keyboard.press("Enter")
    page.get_by_text("Nothing left for you right now").wait_for()
    assert Answer.objects.get().verdict == "accept"


def test_a_page_that_breaks_says_so_gives_the_image_back_and_a_reload_serves_another(page, page_problems, crisis):
    first, second = queue(crisis, eases=(0.9, 0.8), with_file=True)
    text_guess(first, lat=-30.0277, lon=-51.2287, radius_km=2)

    # A map library that throws while the page sets itself up, as the circle's bounds once did.
    def broken_leaflet(route):
        original = route.fetch()
        route.fulfill(response=original, body=original.text() + "\nL.Map.prototype.fitBounds = " + BOOM)

    page.route(re.compile(r".*/leaflet/leaflet\.js$"), broken_leaflet)
    page_problems.allow(r"page error: .*boom")
    page_problems.allow(r"console error: .*boom")
    with page.expect_response(lambda response: response.url.endswith("/skip/")):  # the image given back
        log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    problem = page.get_by_role("alert")
    problem.get_by_text("Something went wrong on this page").wait_for()
    assert "boom" in problem.inner_text()
    screenshot(page, "geolocate_page_problem")
    first_task = CrowdTask.objects.get(media=first, kind="geolocation")
    assert Assignment.objects.get(task=first_task).state == "skipped"

    page.unroute(re.compile(r".*/leaflet/leaflet\.js$"))
    page.reload()
    page.locator("#task-map.leaflet-container").wait_for()
    shown = json.loads(page.locator("#task-data").text_content())["task_id"]
    assert shown == CrowdTask.objects.get(media=second, kind="geolocation").pk


def test_a_photo_that_cannot_be_loaded_is_given_back(page, page_problems, crisis):
    first, second = queue(crisis, eases=(0.9, 0.8), with_file=True)
    first.image.delete(save=False)  # the file is gone from the disk: its URL answers 404
    page_problems.allow(r"HTTP 404: GET ")
    log_in(page, "ana", f"/crises/{crisis.slug}/geolocate/")
    page.get_by_role("alert").get_by_text("The photo could not be loaded.").wait_for()
    page.get_by_role("button", name="Next image").click()
    wait_for_task_page(page, showing=CrowdTask.objects.get(media=second, kind="geolocation").pk)
