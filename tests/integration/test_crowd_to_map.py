"""Across the apps: volunteers rate and pin through the API, consensus forms, the point reaches the map."""

import pytest
from django.test import Client

from consensus.models import CrisisRatingStats, LocationConsensus, RatingConsensus
from crawling.models import Media
from geoloc_platform.crises.services import crisis_transition
from tests.conftest import make_crisis, make_user
from tests.tasks_app.conftest import queue, with_record

pytestmark = pytest.mark.django_db(transaction=True)  # answers reach consensus on commit

CANOAS = (-29.9178, -51.1839)


@pytest.fixture
def crisis(people):
    draft = make_crisis(slug="canoas-floods", coordinator=people["coordinator"], geolocation_redundancy=3)
    return crisis_transition(crisis=draft, action="launch", user=people["coordinator"])


@pytest.fixture
def volunteers(db):
    return [make_user(f"vol{i}") for i in range(6)]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def answer_next(client, crisis, kind: str, **answer) -> dict:
    lease = client.post(f"/api/crises/{crisis.slug}/tasks/next/", {"kind": kind}, content_type="application/json")
    assert lease.status_code == 200, lease.content
    body = {"lease_id": lease.json()["lease_id"], "kind": kind, **answer}
    response = client.post("/api/answers/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return lease.json()


def test_answers_through_the_api_become_a_published_point_on_the_map(crisis, volunteers, people, settings):
    """The default rule: two independent pins agree, a volunteer with a record checks them, the point is published."""
    settings.CROWD_GOLD_RATE = 0  # no gold images mixed in: every answer goes to the one queued image
    (image,) = queue(crisis, eases=(0.9,), with_file=True)
    for index, volunteer in enumerate(volunteers[:5]):
        answer_next(client_for(volunteer), crisis, "rating", difficulty="easy" if index < 4 else "medium")
    searched = {"map_moved": True, "map_zoomed": True, "place_searched": False, "streetview_opened": True}
    for index, volunteer in enumerate(volunteers[:2]):
        offset = 0.0002 * index
        answer_next(
            client_for(volunteer),
            crisis,
            "geolocation",
            lat=CANOAS[0] + offset,
            lon=CANOAS[1],
            precision="high",  # with no Street View view or clue tags: counts as medium, and no check is asked yet
            interaction=searched,
            time_on_task_s=120,
        )
    waiting = LocationConsensus.objects.get(media=image)
    assert waiting.status == LocationConsensus.Status.AWAITING_VERIFICATION  # two newcomers cannot publish
    assert Media.objects.get(pk=image.pk).stage == Media.Stage.IN_CROWD_WORK
    lease = answer_next(client_for(with_record(volunteers[4], correct=40)), crisis, "verification", verdict="yes")
    assert (lease["reference"]["lat"], lease["text_guess"]) == (pytest.approx(CANOAS[0], abs=1e-3), None)

    assert RatingConsensus.objects.get(media=image).label == "easy"
    assert CrisisRatingStats.objects.get(crisis=crisis).n_ratings == 5
    consensus = LocationConsensus.objects.get(media=image)
    assert consensus.status == LocationConsensus.Status.DONE and consensus.trusted
    assert consensus.evidence["volunteers"] == 3 and consensus.evidence["best_record"] == 40
    assert Media.objects.get(pk=image.pk).stage == Media.Stage.PUBLISHED

    public = Client().get("/api/map/features/", {"crisis": crisis.slug}).json()["features"]
    assert public == []  # the public map shows points only after MAP_PUBLIC_DELAY, coarsened

    coordinator = client_for(people["coordinator"])  # exact and live for the crisis's coordinators
    response = coordinator.get("/api/map/features/", {"crisis": crisis.slug})
    features = response.json()["features"]
    assert len(features) == 1, response.json()
    lon, lat = features[0]["geometry"]["coordinates"]
    assert (lat, lon) == (pytest.approx(consensus.lat, abs=1e-6), pytest.approx(consensus.lon, abs=1e-6))
    assert features[0]["properties"]["verified_by"]["line"] == (
        "Verified by 3 volunteers, one with a track record; 40 correct checked answers, 40 of them on practice images"
    )

    exported = coordinator.get(f"/api/map/crises/{crisis.slug}/export/geojson/")
    assert exported.status_code == 200
    assert b'"FeatureCollection"' in exported.content


def test_a_review_accepts_the_point_and_the_reviewer_is_not_a_pinner(crisis, volunteers, settings):
    """Under fixed redundancy a published point gets a review after, by a volunteer with a record."""
    settings.CROWD_GOLD_RATE = 0
    type(crisis).objects.filter(pk=crisis.pk).update(redundancy_policy="fixed", publish_requires_record=False)
    crisis.refresh_from_db()
    with_record(volunteers[0])
    with_record(volunteers[4])
    (image,) = queue(crisis, eases=(0.9,), kinds=("geolocation",), with_file=True)
    for volunteer in volunteers[:3]:
        answer_next(client_for(volunteer), crisis, "geolocation", lat=CANOAS[0], lon=CANOAS[1], precision="high")
    pinner = client_for(volunteers[0]).post(
        f"/api/crises/{crisis.slug}/tasks/next/", {"kind": "review"}, content_type="application/json"
    )
    assert pinner.status_code == 204  # nothing to review for someone who pinned it
    answer_next(client_for(volunteers[4]), crisis, "review", verdict="accept")
    assert LocationConsensus.objects.get(media=image).review == LocationConsensus.Review.ACCEPTED
