import pytest
from django.contrib.admin.models import LogEntry

from geoloc_platform.crises import services
from geoloc_platform.crises.models import Crisis, CrisisMembership, CrisisStatusChange
from geoloc_platform.exceptions import InvalidTransition
from tests.conftest import make_crisis, make_user

pytestmark = pytest.mark.django_db


class TestCrisisCreate:
    def test_creator_becomes_coordinator_of_a_draft(self):
        coordinator = make_user("c", is_staff=True)
        crisis = make_crisis(coordinator=coordinator)
        assert crisis.status == Crisis.Status.DRAFT
        assert CrisisMembership.objects.filter(
            crisis=crisis, user=coordinator, role=CrisisMembership.Role.COORDINATOR
        ).exists()

    def test_defaults_follow_the_method(self):
        crisis = make_crisis()
        assert (crisis.rating_redundancy, crisis.geolocation_redundancy) == (5, 3)
        assert crisis.scheduling_policy == Crisis.SchedulingPolicy.DIFFICULTY_PRIORITY
        assert crisis.visibility == Crisis.Visibility.PUBLIC

    @pytest.mark.parametrize(
        "fields",
        [
            {"country_codes": ["brazil"]},
            {"languages": ["EN"]},
            {"affected_area": {"type": "Point", "coordinates": [0, 0]}},
            {"rating_redundancy": 0},
        ],
    )
    def test_invalid_fields_are_refused_and_nothing_is_saved(self, fields):
        from django.core.exceptions import ValidationError

        with pytest.raises(ValidationError):
            make_crisis(**fields)
        assert not Crisis.objects.exists()

    def test_collection_window_must_end_after_it_starts(self):
        from django.core.exceptions import ValidationError
        from django.utils import timezone

        now = timezone.now()
        with pytest.raises(ValidationError):
            make_crisis(collection_starts_at=now, collection_ends_at=now)


class TestCrisisTransition:
    def test_full_lifecycle_is_logged_in_order(self):
        user = make_user("c", is_staff=True)
        crisis = make_crisis(coordinator=user)
        for action in ("launch", "pause", "resume", "close"):
            services.crisis_transition(crisis=crisis, action=action, user=user)
        crisis.refresh_from_db()
        assert crisis.status == Crisis.Status.CLOSED
        history = list(
            CrisisStatusChange.objects.filter(crisis=crisis).order_by("id").values_list("from_status", "to_status")
        )
        assert history == [("draft", "active"), ("active", "paused"), ("paused", "active"), ("active", "closed")]
        assert LogEntry.objects.filter(object_id=str(crisis.pk)).count() == 4

    @pytest.mark.parametrize(
        ("status", "action"),
        [
            ("draft", "pause"),
            ("draft", "resume"),
            ("active", "launch"),
            ("closed", "launch"),
            ("closed", "resume"),
            ("paused", "pause"),
        ],
    )
    def test_invalid_transition_is_refused_and_changes_nothing(self, status, action):
        crisis = make_crisis()
        Crisis.objects.filter(pk=crisis.pk).update(status=status)
        crisis.refresh_from_db()
        with pytest.raises(InvalidTransition):
            services.crisis_transition(crisis=crisis, action=action, user=None)
        crisis.refresh_from_db()
        assert crisis.status == status
        assert not CrisisStatusChange.objects.exists()

    def test_second_identical_action_changes_nothing(self):
        crisis = make_crisis()
        services.crisis_transition(crisis=crisis, action="launch", user=None)
        stale_copy = Crisis.objects.get(pk=crisis.pk)
        with pytest.raises(InvalidTransition):
            services.crisis_transition(crisis=stale_copy, action="launch", user=None)
        assert CrisisStatusChange.objects.count() == 1

    def test_unknown_action_is_refused(self):
        with pytest.raises(InvalidTransition):
            services.crisis_transition(crisis=make_crisis(), action="explode", user=None)
