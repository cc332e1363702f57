"""The map's popup says who verified a point: counts and the best track record, never who the volunteers are."""

import pytest
from django.test import Client
from django.utils import translation

from consensus.models import LocationConsensus
from geoloc_platform.crises.services import crisis_transition
from mapping.trust import trust_key, trust_line
from tests.conftest import make_crisis, make_user
from tests.integration.test_crowd_to_map import CANOAS, answer_next, client_for
from tests.mapping.conftest import make_point
from tests.tasks_app.conftest import queue

pytestmark = pytest.mark.django_db


def test_a_point_carries_who_verified_it_as_numbers_and_no_volunteer_ids(people):
    crisis, coordinator = people["crisis"], people["coordinator"]
    crisis.status = "active"
    crisis.save(update_fields=["status"])
    media = make_point(crisis)
    evidence = {
        "volunteers": 3,
        "with_record": 1,
        "best_record": 40,
        "best_record_gold": 38,
        "checks": 1,
        "streetview": True,
        "reviewed_by": "",
        "trusted_by": [people["volunteer"].pk],
    }
    LocationConsensus.objects.filter(media=media).update(trusted=True, evidence=evidence)
    client = Client()
    client.force_login(coordinator)
    (feature,) = client.get("/api/map/features/", {"crisis": crisis.slug}).json()["features"]
    assert feature["properties"]["trusted"] is True
    assert feature["properties"]["verified_by"] == {
        "volunteers": 3,
        "with_record": 1,
        "coordinators": 0,
        "line": "Verified by 3 volunteers, one with a track record; 40 correct checked answers, 38 of them on practice"
        " images · Street View match",
        "best_record": 40,
        "best_record_gold": 38,
        "checks": 1,
        "streetview": True,
        "reviewed_by": "",
    }
    assert "trusted_by" not in str(feature)


def line(evidence: dict, trusted: bool = True) -> str:
    with translation.override("en"):
        return trust_line(trust_key(evidence, trusted=trusted))


@pytest.mark.parametrize(
    ("evidence", "trusted", "expected"),
    [
        ({"volunteers": 3, "reviewed_by": "coordinator"}, True, "Checked by a coordinator"),
        ({"volunteers": 3, "reviewed_by": "reviewer"}, True, "Checked by a reviewer with a track record"),
        # A coordinator's check (or pin) among the evidence: a coordinator, not a record of 0 answers.
        ({"volunteers": 3, "coordinators": 1}, True, "Verified by 3 people, including a coordinator"),
        ({"volunteers": 1, "coordinators": 1}, True, "Verified by a coordinator"),
        # Stored before coordinators were counted apart: a trusted person with no record is the coordinator.
        ({"volunteers": 3, "with_record": 1, "best_record": 0}, True, "Verified by 3 people, including a coordinator"),
        (
            {"volunteers": 3, "with_record": 1, "best_record": 40, "best_record_gold": 38},
            True,
            "Verified by 3 volunteers, one with a track record; 40 correct checked answers, 38 of them on practice "
            "images",
        ),
        (
            {"volunteers": 2, "with_record": 1, "best_record": 12},
            True,
            "Verified by 2 volunteers, one with a track record; 12 correct checked answers",
        ),
        (
            {"volunteers": 4, "with_record": 2, "best_record": 30, "best_record_gold": 1},
            True,
            "Verified by 4 volunteers, 2 with a track record; the best record: 30 correct checked answers, 1 of them "
            "on a practice image",
        ),
        (
            {"volunteers": 1, "with_record": 1, "best_record": 1},
            True,
            "Verified by a volunteer with a track record; 1 correct checked answer",
        ),
        (
            {"volunteers": 3, "streetview": True},
            False,
            "Agreed by 3 volunteers, none with a track record (this crisis does not require one) · Street View match",
        ),
    ],
)
def test_the_line_reads_right_for_every_kind_of_evidence(evidence, trusted, expected):
    assert line(evidence, trusted) == expected


@pytest.mark.django_db(transaction=True)  # answers reach consensus on commit
def test_a_coordinators_check_reads_as_a_coordinators_on_the_map(people, settings):
    """Through the crowd API: a newcomer pins, the crisis's coordinator checks the pin, the popup says so."""
    settings.CROWD_GOLD_RATE = 0
    crisis = crisis_transition(
        crisis=make_crisis(slug="canoas-floods", coordinator=people["coordinator"]),
        action="launch",
        user=people["coordinator"],
    )
    (image,) = queue(crisis, eases=(0.9,), kinds=("geolocation",), with_file=True)
    searched = {"map_moved": True, "map_zoomed": True, "place_searched": False, "streetview_opened": False}
    answer_next(
        client_for(make_user("newcomer")),
        crisis,
        "geolocation",
        lat=CANOAS[0],
        lon=CANOAS[1],
        precision="high",
        clue_tags=["sign_text"],
        interaction=searched,
    )
    assert LocationConsensus.objects.get(media=image).status == LocationConsensus.Status.AWAITING_VERIFICATION
    coordinator = client_for(people["coordinator"])
    answer_next(coordinator, crisis, "verification", verdict="yes")
    consensus = LocationConsensus.objects.get(media=image)
    assert consensus.status == LocationConsensus.Status.DONE and consensus.trusted
    (feature,) = coordinator.get("/api/map/features/", {"crisis": crisis.slug}).json()["features"]
    verified = feature["properties"]["verified_by"]
    assert (verified["volunteers"], verified["coordinators"], verified["with_record"]) == (2, 1, 0)
    assert verified["line"] == "Verified by 2 people, including a coordinator"  # not "one with 0 correct answers"
