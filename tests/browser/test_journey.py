"""The whole journey, from the state `make run` creates, walked in a real browser by each person in turn.

`make run` builds the offline gazetteer and runs `load_demo`; here the gazetteer is the same package data kept to
the demo crisis's country (the whole world takes minutes to index), and `load_demo` runs as it does there. Then:
an anonymous visitor finds the crisis; a volunteer signs up, rates 5 images and geolocates 5 (with and without a
text guess, once through the place search); two more volunteers pin the same images through the API; the
coordinator watches the dashboard move and checks the pins on the verification page; the first volunteer, now
with a track record, checks a location; a responder sees the published points on /map/ and in every export; an
anonymous visitor sees the public view, empty until the delay passes, then coarsened. Every step fails on any page
error, console error or failed request (tests/browser/conftest.py); screenshots land in test-artifacts/journey_*.
"""

import csv
import io
import json
import re
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from classification.geolocation.gazetteer import iter_package_places
from classification.geolocation.geo import haversine_km
from classification.geolocation.loader import geolocator_reset
from classification.models import Place
from consensus.models import LocationConsensus
from geoloc_platform.crises.demo import DEMO_CRISIS, DEMO_SLUG
from geoloc_platform.crises.models import Crisis
from tasks_app.models import Answer, Assignment
from tasks_app.selectors import volunteer_has_record
from tests.browser.conftest import screenshot, wait_for_task_page
from tests.conftest import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PIN = re.compile(r"Pin at (-?\d+\.\d+), (-?\d+\.\d+)")
SIGN_UP_PASSWORD = "flood-helper-2024-rs"


def gazetteer_store(country_codes: set[str]) -> int:
    """The package gazetteer `build_gazetteer` stores, kept to these countries (plus every country and continent)."""
    rows = [
        Place(**fields)
        for fields in iter_package_places(min_population=1000)
        if fields["kind"] in ("continent", "country") or fields["country_code"] in country_codes
    ]
    Place.objects.bulk_create(rows, batch_size=5000)
    geolocator_reset()
    return len(rows)


@pytest.fixture
def demo(settings, tmp_path):
    """What `make run` leaves: the gazetteer, the demo crisis with its images through the pipeline, the accounts."""
    settings.VAR_DIR = tmp_path / "var"
    settings.GEOLOC_GAZETTEER_CACHE_DIR = tmp_path / "gazetteer"
    assert gazetteer_store(set(DEMO_CRISIS["country_codes"])) > 1000
    call_command("load_demo", password=PASSWORD, stdout=io.StringIO())
    yield Crisis.objects.get(slug=DEMO_SLUG)
    geolocator_reset()


def task_data(page) -> dict:
    return json.loads(page.locator("#task-data").text_content())


def next_task(page, task_id: int) -> None:
    """Wait until the page shows another task (or says nothing is left)."""
    wait_for_task_page(page, leaving=task_id)


def log_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def api_client(username: str) -> Client:
    client = Client()
    client.force_login(make_user(username))
    return client


def api_pin(client: Client, crisis: Crisis, media_id: int, lat: float, lon: float) -> bool:
    """A volunteer of the API pins one image: takes leases until that image comes, skipping the others."""
    for _ in range(40):
        lease = client.post(
            f"/api/crises/{crisis.slug}/tasks/next/", {"kind": "geolocation"}, content_type="application/json"
        )
        if lease.status_code != 200:
            return False
        body = lease.json()
        task = Assignment.objects.select_related("task").get(pk=body["lease_id"]).task
        if task.media_id != media_id:
            client.post(f"/api/leases/{body['lease_id']}/skip/", {}, content_type="application/json")
            continue
        answer = {
            "lease_id": body["lease_id"],
            "kind": "geolocation",
            "lat": lat,
            "lon": lon,
            "precision": "medium",
            "clue_tags": ["sign_text"],
            "interaction": {"map_moved": True, "map_zoomed": True, "place_searched": False, "streetview_opened": False},
        }
        response = client.post("/api/answers/", answer, content_type="application/json")
        assert response.status_code == 201, response.content
        return True
    return False


def geolocate_one(page, *, use_search: bool) -> dict:
    """Answer the geolocation page as a volunteer does: look around the map (or search), pin, say why."""
    data = task_data(page)
    if use_search:
        page.fill("#place-search", "Porto Alegre")
        page.locator("#place-results button").first.wait_for()
        page.keyboard.press("Enter")  # the first place; the map takes the focus
        page.locator("#place-search-note").get_by_text("Porto Alegre").wait_for()
    page.locator("#task-map").focus()
    page.keyboard.press("+")  # zoom in on the area, and move along the street
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(400)
    page.keyboard.press("p")
    lat, lon = (float(v) for v in PIN.search(page.locator("#pin-readout").inner_text()).groups())
    page.get_by_label("Sign text").check()
    screenshot(page, f"journey_04_geolocate_{'search' if use_search else 'guess' if data['text_guess'] else 'area'}")
    page.get_by_role("button", name=re.compile("Submit")).click()
    next_task(page, data["task_id"])
    return {"task_id": data["task_id"], "lat": lat, "lon": lon, "guess": data["text_guess"]}


def test_the_whole_journey_from_make_run(page, other_page, demo, settings):
    crisis = demo
    queued = crisis.media.filter(stage__in=["queued", "in_crowd_work"]).count()
    assert queued >= 12, "load_demo should leave the demo's images queued for the crowd"

    # --- An anonymous visitor finds the crisis; its public map has nothing yet. ---
    page.goto("/")
    page.get_by_role("link", name=crisis.name).click()
    page.wait_for_load_state()
    screenshot(page, "journey_01_anonymous_crisis_page")
    page.goto("/map/")
    page.wait_for_function("document.querySelector('#disaster-map').dataset.points === '0'")

    # --- A volunteer signs up and opens the crisis's work page. ---
    page.get_by_role("link", name="Sign up").click()
    page.fill("#id_username", "lucia")
    page.fill("#id_email", "lucia@example.org")
    page.fill("#id_password1", SIGN_UP_PASSWORD)
    page.fill("#id_password2", SIGN_UP_PASSWORD)
    screenshot(page, "journey_02_sign_up")
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_load_state()
    page.goto(f"/crises/{crisis.slug}/work/")
    screenshot(page, "journey_02_work_page")

    # --- Rates 5 images with the keys. ---
    page.get_by_role("link", name="Rate how hard images are to geolocate").click()
    page.wait_for_load_state()  # the rating page's scripts take the keys once it has loaded
    for key in "12312":
        data = task_data(page)
        page.wait_for_function("document.getElementById('task-image').complete")
        page.keyboard.press(key)
        next_task(page, data["task_id"])
    screenshot(page, "journey_03_rated")
    assert Answer.objects.filter(volunteer__username="lucia", kind="rating").count() == 5

    # --- Geolocates 5: with the text's guess, without one, once through the place search. ---
    page.goto(f"/crises/{crisis.slug}/geolocate/")
    pins = []
    while len(pins) < 5:
        data = task_data(page)
        has_guess = data["text_guess"] is not None
        still_needed = {
            "guess": not any(p["guess"] for p in pins),
            "no_guess": not any(p["guess"] is None for p in pins),
        }
        if len(pins) == 4 and ((still_needed["guess"] and not has_guess) or (still_needed["no_guess"] and has_guess)):
            page.keyboard.press("s")  # the last answer must cover what is still missing: look at another image
            next_task(page, data["task_id"])
            continue
        pins.append(geolocate_one(page, use_search=len(pins) == 1))
        page.locator("#crowd-saved").get_by_text("Your last answer was saved").wait_for()
    assert any(p["guess"] for p in pins) and any(p["guess"] is None for p in pins)
    answers = Answer.objects.filter(volunteer__username="lucia", kind="geolocation")
    assert answers.count() == 5
    assert all(a.interaction.get("map_moved") for a in answers)

    # --- Two more volunteers pin the same images through the API, a few metres apart. ---
    others = [api_client("bruno"), api_client("carla")]
    media_ids = {a.task.media_id: a for a in answers.select_related("task")}
    for client in others:
        for media_id, answer in media_ids.items():
            api_pin(client, crisis, media_id, answer.lat + 0.0002, answer.lon - 0.0001)

    # --- The coordinator sees the dashboard move, then checks the pins on the verification page. ---
    coordinator = other_page()
    log_in(coordinator, "demo-coordinator")
    coordinator.goto(f"/crises/{crisis.slug}/dashboard/")
    coordinator.locator("#dash-computed").get_by_text(re.compile(r"\d")).wait_for()
    screenshot(coordinator, "journey_05_dashboard")
    coordinator.goto(f"/crises/{crisis.slug}/verify/")
    verified = 0
    while coordinator.locator("#task-data").count() and not volunteer_has_record(
        volunteer=answers[0].volunteer, crisis=crisis
    ):
        data = task_data(coordinator)
        if verified == 0:
            screenshot(coordinator, "journey_06_verify")
        coordinator.keyboard.press("y")
        next_task(coordinator, data["task_id"])
        verified += 1
    published = LocationConsensus.objects.filter(media__crisis=crisis, media__stage="published")
    assert published.count() >= 5, (verified, list(LocationConsensus.objects.values_list("status", flat=True)))
    assert volunteer_has_record(volunteer=answers[0].volunteer, crisis=crisis)

    # --- With her record, the volunteer checks another volunteer's location. ---
    unseen = crisis.media.filter(stage__in=["queued", "in_crowd_work"]).exclude(pk__in=list(media_ids)).first()
    for username in ("dora", "eli"):  # newcomers: bruno and carla skipped this image on their way
        assert api_pin(api_client(username), crisis, unseen.pk, -30.0300, -51.2200)
    page.goto(f"/crises/{crisis.slug}/work/")
    page.get_by_role("link", name=re.compile("Check locations")).click()
    data = task_data(page)
    screenshot(page, "journey_07_volunteer_verifies")
    page.keyboard.press("y")
    next_task(page, data["task_id"])
    assert Answer.objects.filter(volunteer__username="lucia", kind="verification").count() == 1

    # --- A responder sees the published points, opens one, and downloads every export. ---
    responder = other_page()
    log_in(responder, "demo-responder")
    expected = LocationConsensus.objects.filter(media__crisis=crisis, media__stage="published").count()
    responder.goto(f"/map/?crisis={crisis.slug}")
    responder.wait_for_function(f"document.querySelector('#disaster-map').dataset.points === '{expected}'")
    screenshot(responder, "journey_08_responder_map")
    point = isolated(list(LocationConsensus.objects.filter(media__crisis=crisis, media__stage="published")))
    responder.goto(f"/map/?crisis={crisis.slug}&lat={point.lat}&lon={point.lon}&z=16")
    responder.wait_for_function(f"document.querySelector('#disaster-map').dataset.points === '{expected}'")
    responder.locator("#disaster-map path.leaflet-interactive").first.click()  # its uncertainty circle
    popup = responder.locator(".map-popup")
    popup.wait_for()
    assert "verified" in popup.inner_text().lower()
    screenshot(responder, "journey_08_responder_popup")
    for link in responder.locator("#map-exports a[data-format]").all():
        with responder.expect_download() as download:
            link.click()
        content = Path(download.value.path()).read_bytes()
        assert_export_has_points(link.get_attribute("data-format"), content, expected, download.value.path())

    # --- An anonymous visitor: nothing until the public delay passes, then coarsened points. ---
    page.context.clear_cookies()
    page.goto(f"/map/?crisis={crisis.slug}")
    page.wait_for_function("document.querySelector('#disaster-map').dataset.points === '0'")
    LocationConsensus.objects.filter(media__crisis=crisis).update(  # the delay passes
        updated_at=timezone.now() - settings.MAP_PUBLIC_DELAY - timedelta(minutes=5)
    )
    page.reload()
    page.wait_for_function(f"document.querySelector('#disaster-map').dataset.points === '{expected}'")
    page.get_by_text("Public view: locations are rounded").wait_for()
    screenshot(page, "journey_09_public_map")
    public = Client().get(f"/api/map/features/?crisis={crisis.slug}").json()["features"]
    exact = {(round(c.lat, 6), round(c.lon, 6)) for c in published}
    assert all(tuple(reversed([round(v, 6) for v in f["geometry"]["coordinates"]])) not in exact for f in public)


def isolated(points: list[LocationConsensus]) -> LocationConsensus:
    """The point farthest from its nearest neighbour: alone on the map at street zoom, not in a cluster."""

    def nearest_km(point):
        others = [haversine_km(point.lat, point.lon, o.lat, o.lon) for o in points if o.pk != point.pk]
        return min(others, default=float("inf"))

    return max(points, key=nearest_km)


def assert_export_has_points(fmt: str, content: bytes, expected: int, path) -> None:
    if fmt == "geojson":
        assert len(json.loads(content)["features"]) == expected
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
        assert len([row for row in rows if not row["id"].startswith("#")]) == expected  # the HXL tag row aside
    elif fmt == "kml":
        assert content.count(b"<Placemark") == expected
    elif fmt in ("gpkg", "geopackage"):
        import pyogrio

        assert pyogrio.read_info(path)["features"] == expected
    elif fmt == "zip":
        assert zipfile.is_zipfile(io.BytesIO(content))
    else:
        pytest.fail(f"an export format the journey does not know: {fmt}")
