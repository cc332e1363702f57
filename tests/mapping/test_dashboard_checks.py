"""The dashboard's checks card: points held back for a check, and those no active volunteer with a record may take."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consensus.models import LocationConsensus
from geoloc_platform.crises.services import crisis_transition
from mapping.selectors import dashboard_statistics
from tests.conftest import make_crisis, make_user
from tests.tasks_app.conftest import pin_the_next_image, queue, with_record

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def crisis(settings):
    """The defaults: adaptive redundancy, a point published only once a volunteer with a record checked it."""
    settings.CROWD_GOLD_RATE = 0
    coordinator = make_user("coord", is_staff=True)
    return crisis_transition(
        crisis=make_crisis(slug="canoas-floods", coordinator=coordinator), action="launch", user=coordinator
    )


def checks(crisis) -> dict:
    return dashboard_statistics(crisis_id=crisis.pk, now=timezone.now())["checks"]


def test_a_point_waits_for_a_coordinator_while_no_volunteer_with_a_record_is_active(crisis):
    queue(crisis, eases=(0.9,), kinds=("geolocation",))
    pin_the_next_image(crisis, make_user("newcomer"), -30.0346)
    assert checks(crisis) == {
        "requires_record": True,
        "min_record": crisis.trusted_min_record,
        "awaiting_check": 1,
        "awaiting_review": 0,
        "longest_wait_minutes": 0,
        "checkers_active": 0,
        "coordinator_only": 1,
    }
    LocationConsensus.objects.update(updated_at=timezone.now() - timedelta(minutes=30))
    assert checks(crisis)["longest_wait_minutes"] == 30


def test_a_volunteer_with_a_record_may_check_the_others_pins_but_not_their_own(crisis):
    first, second = queue(crisis, eases=(0.9, 0.8), kinds=("geolocation",))
    checker = with_record(make_user("checker"), correct=40)
    assert pin_the_next_image(crisis, make_user("newcomer"), -30.0346) == first.pk
    assert pin_the_next_image(crisis, checker, -30.0100) == second.pk
    assert set(LocationConsensus.objects.values_list("status", flat=True)) == {"awaiting_verification"}
    figures = checks(crisis)
    assert (figures["awaiting_check"], figures["checkers_active"]) == (2, 1)
    assert figures["coordinator_only"] == 1  # the checker's own point: the newcomer has no record
