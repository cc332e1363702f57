"""Attacks on the crowd's trust, through the HTTP API: many fresh accounts or guests agreeing on a wrong place, and
volunteers who click the text's guess. None of them may publish a point on their own (consensus README, "Trust")."""

import pytest
from django.core.cache import cache
from django.test import Client

from consensus.models import LocationConsensus
from crawling.models import Media
from geoloc_platform.crises.services import crisis_transition
from tasks_app import services
from tasks_app.models import Answer, CrowdTask
from tests.conftest import PASSWORD, make_crisis
from tests.tasks_app.conftest import queue, with_record

pytestmark = pytest.mark.django_db(transaction=True)  # answers reach consensus on commit, as in production

WRONG_SPOT = (-30.1500, -51.0500)  # inside the crisis area, kilometres from where the photos were taken
TRUTH = (-30.0346, -51.2177)
FAR_OUTSIDE = (-22.9068, -43.1729)  # a namesake about 1,100 km away: the text's guess is wrong
EVERY_CLAIM = {
    "precision": "high",
    "clue_tags": ["sign_text", "landmark"],
    "pano_lat": WRONG_SPOT[0],
    "pano_lon": WRONG_SPOT[1],
    "pano_heading": 90,
    "pano_pitch": 0,
    "interaction": {"map_moved": True, "map_zoomed": True, "place_searched": True, "streetview_opened": True},
}


@pytest.fixture
def crisis(people, settings):
    cache.clear()  # the per-address counters of earlier tests
    settings.CROWD_GOLD_RATE = 0.2
    settings.SIGNUP_PER_ADDRESS_PER_HOUR = 5
    settings.GUEST_ACCOUNTS_PER_ADDRESS_PER_HOUR = 20
    draft = make_crisis(slug="canoas-floods", coordinator=people["coordinator"], allow_anonymous=True)
    return crisis_transition(crisis=draft, action="launch", user=people["coordinator"])


def csrf_client(address: str) -> Client:
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR=address)
    client.get("/accounts/signup/")  # sets the csrftoken cookie
    client.defaults["HTTP_X_CSRFTOKEN"] = client.cookies["csrftoken"].value
    return client


def sign_up(index: int) -> Client:
    """A new account through the sign-up page, five per address (the limit), logged in by the page."""
    client = csrf_client(f"203.0.113.{index // 5 + 1}")
    response = client.post(
        "/accounts/signup/",
        {"username": f"sybil{index}", "email": f"sybil{index}@example.org", "password1": PASSWORD,
         "password2": PASSWORD},
    )  # fmt: skip
    assert response.status_code == 302, response.content
    client.defaults["HTTP_X_CSRFTOKEN"] = client.cookies["csrftoken"].value  # rotated at login
    return client


def guest(index: int, crisis) -> Client:
    """A guest, as an anonymous visitor of the geolocation page becomes one; a new address every 20 guests."""
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR=f"198.51.100.{index // 20 + 1}")
    page = client.get(f"/crises/{crisis.slug}/geolocate/")
    assert page.status_code in (200, 204), page.status_code
    client.defaults["HTTP_X_CSRFTOKEN"] = client.cookies["csrftoken"].value
    return client


def pin_everything(client: Client, crisis, spot, **claims) -> int:
    """Take geolocation tasks until none is left and pin every one at ``spot``; the number answered."""
    answered = 0
    while True:
        lease = client.post(f"/api/crises/{crisis.slug}/tasks/next/", {"kind": "geolocation"},
                            content_type="application/json")  # fmt: skip
        if lease.status_code == 204:
            return answered
        assert lease.status_code == 200, lease.content
        body = {"lease_id": lease.json()["lease_id"], "kind": "geolocation", "lat": spot[0], "lon": spot[1], **claims}
        response = client.post("/api/answers/", body, content_type="application/json")
        assert response.status_code == 201, response.content
        answered += 1


def published_points(client: Client, crisis) -> list:
    return client.get("/api/map/features/", {"crisis": crisis.slug}).json()["features"]


def assert_nothing_published(crisis, coordinator):
    assert not Media.objects.filter(crisis=crisis, stage=Media.Stage.PUBLISHED).exists()
    assert not LocationConsensus.objects.filter(crisis=crisis, status=LocationConsensus.Status.DONE).exists()
    coordinator_client = Client()
    coordinator_client.force_login(coordinator)
    assert published_points(coordinator_client, crisis) == []  # exact and live: nothing hidden by a delay


def add_gold(crisis, count: int = 2):
    """Practice images with a known location, mixed in for newcomers: pinning them wrong builds no record."""
    for image in queue(crisis, eases=(0.9,) * count, kinds=("geolocation",)):
        services.gold_task_create(media_id=image.pk, lat=TRUTH[0], lon=TRUTH[1])


# Pins that claim no evidence: two agreeing ones are "enough" without a check, so only the record rule stops them.
MEDIUM_NO_EVIDENCE = {"precision": "medium", "interaction": EVERY_CLAIM["interaction"]}


@pytest.mark.parametrize("claims", [EVERY_CLAIM, MEDIUM_NO_EVIDENCE], ids=["every-claim", "medium-no-evidence"])
@pytest.mark.parametrize("accounts", [3, 6, 20])
def test_new_accounts_agreeing_on_a_wrong_spot_publish_nothing(crisis, people, accounts, claims):
    images = queue(crisis, eases=(0.9,) * 6, kinds=("geolocation",))
    add_gold(crisis)
    clients = [sign_up(index) for index in range(accounts)]
    answered = sum(pin_everything(client, crisis, WRONG_SPOT, **claims) for client in clients)

    assert answered >= len(images)  # every image was pinned at the wrong spot
    assert_nothing_published(crisis, people["coordinator"])
    # Each waits for a check by a volunteer with a record, for more pins, or for a coordinator: accounts that failed
    # a practice image fall below the newcomer's skill, so their pins are not taken as skilled evidence.
    statuses = set(LocationConsensus.objects.filter(crisis=crisis).values_list("status", flat=True))
    assert statuses <= {"awaiting_verification", "needs_more_answers", "needs_expert_review"}
    refused = clients[0].post(f"/api/crises/{crisis.slug}/tasks/next/", {"kind": "verification"},
                              content_type="application/json")  # fmt: skip
    assert (refused.status_code, refused.json()["code"]) == (403, "no_track_record")  # they cannot check each other
    review = clients[-1].post(f"/api/crises/{crisis.slug}/tasks/next/", {"kind": "review"},
                              content_type="application/json")  # fmt: skip
    assert review.status_code == 403


def test_a_sixth_account_from_one_address_in_an_hour_is_refused(crisis):
    for index in range(6):
        response = csrf_client("203.0.113.77").post(
            "/accounts/signup/",
            {"username": f"same{index}", "email": f"same{index}@example.org", "password1": PASSWORD,
             "password2": PASSWORD},
        )  # fmt: skip
        if index < 5:
            assert response.status_code == 302
    assert response.status_code == 429
    assert not type(crisis.created_by).objects.filter(username="same5").exists()


@pytest.mark.parametrize("guests", [3, 6, 20])
def test_guests_agreeing_on_a_wrong_spot_publish_nothing(crisis, people, guests):
    images = queue(crisis, eases=(0.9,) * 6, kinds=("geolocation",))
    answered = sum(pin_everything(guest(index, crisis), crisis, WRONG_SPOT, **EVERY_CLAIM) for index in range(guests))

    assert answered >= len(images)
    assert_nothing_published(crisis, people["coordinator"])


def test_guests_never_earn_a_record_even_with_right_practice_answers(crisis, people, settings):
    settings.CROWD_GOLD_RATE = settings.CROWD_GOLD_MIN_RATE = 1.0  # only practice images while there are some
    add_gold(crisis, count=8)
    client = guest(0, crisis)
    assert pin_everything(client, crisis, TRUTH, **{**EVERY_CLAIM, "pano_lat": TRUTH[0], "pano_lon": TRUTH[1]}) == 8
    refused = client.post(f"/api/crises/{crisis.slug}/tasks/next/", {"kind": "verification"},
                          content_type="application/json")  # fmt: skip
    assert refused.status_code == 403


def test_right_practice_answers_earn_a_record_and_then_a_check_publishes(crisis, people, settings):
    settings.CROWD_GOLD_RATE = settings.CROWD_GOLD_MIN_RATE = 1.0
    add_gold(crisis, count=crisis.trusted_min_record)
    checker = sign_up(0)
    truthful = {**EVERY_CLAIM, "pano_lat": TRUTH[0], "pano_lon": TRUTH[1]}
    assert pin_everything(checker, crisis, TRUTH, **truthful) == crisis.trusted_min_record
    settings.CROWD_GOLD_RATE = 0
    (image,) = queue(crisis, eases=(0.9,), kinds=("geolocation",))
    pin_everything(sign_up(5), crisis, TRUTH, **truthful)
    assert LocationConsensus.objects.get(media=image).status == LocationConsensus.Status.AWAITING_VERIFICATION

    lease = checker.post(f"/api/crises/{crisis.slug}/tasks/next/", {"kind": "verification"},
                         content_type="application/json")  # fmt: skip
    assert lease.status_code == 200, lease.content
    answer = checker.post("/api/answers/", {"lease_id": lease.json()["lease_id"], "kind": "verification",
                                            "verdict": "yes"}, content_type="application/json")  # fmt: skip
    assert answer.status_code == 201
    consensus = LocationConsensus.objects.get(media=image)
    assert (consensus.status, consensus.trusted, consensus.precision) == ("done", True, "high")
    assert consensus.evidence["best_record_gold"] == crisis.trusted_min_record


def prior_images(crisis, spot, count: int = 3):
    """Images whose post carries a location at ``spot``: the map opens there (the text's guess)."""
    images = queue(crisis, eases=(0.9,) * count, kinds=("geolocation",))
    from crawling.models import Post

    Post.objects.filter(media__in=images).update(geo_lat=spot[0], geo_lon=spot[1], geo_accuracy_m=2000)
    return images


@pytest.mark.parametrize("interaction", [None, {"map_moved": False, "map_zoomed": False}])
def test_clicking_the_centre_of_the_guess_publishes_nothing_as_high_precision(crisis, people, settings, interaction):
    settings.CROWD_GOLD_RATE = 0
    images = prior_images(crisis, WRONG_SPOT)
    clickers = [sign_up(index) for index in range(3)] + [sign_up(5)]
    with_record(type(people["volunteer"]).objects.get(username="sybil5"))  # even one with a record
    claims = {"precision": "high"} | ({"interaction": interaction} if interaction else {})
    for client in clickers:
        pin_everything(client, crisis, WRONG_SPOT, **claims)

    assert Answer.objects.filter(media__in=images, confirms_prior=True).count() >= len(images)
    high = LocationConsensus.objects.filter(crisis=crisis, status="done", precision="high")
    assert not high.exists()
    assert_nothing_published(crisis, people["coordinator"])  # repeating the guess is no independent evidence


def test_a_guess_far_outside_the_area_clicked_by_everyone_goes_to_review_not_to_the_map(crisis, people, settings):
    settings.CROWD_GOLD_RATE = 0
    settings.CONSENSUS_MAX_GEOLOCATION_ANSWERS = 4
    (image,) = prior_images(crisis, FAR_OUTSIDE, count=1)
    for index in range(5):
        client = sign_up(index)
        with_record(type(people["volunteer"]).objects.get(username=f"sybil{index}"))
        pin_everything(client, crisis, FAR_OUTSIDE, **EVERY_CLAIM)

    consensus = LocationConsensus.objects.get(media=image)
    assert consensus.status == LocationConsensus.Status.NEEDS_EXPERT_REVIEW, consensus.reason
    assert "outside the crisis area" in consensus.reason or "repeat" in consensus.reason
    assert_nothing_published(crisis, people["coordinator"])
    assert CrowdTask.objects.get(media=image, kind="geolocation").status == CrowdTask.Status.RETIRED
