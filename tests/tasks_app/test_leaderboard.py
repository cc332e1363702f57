"""The leaderboard shows the present: recomputed when older than its max age, by one request at a time."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from tasks_app import services
from tasks_app.models import LeaderboardEntry
from tests.tasks_app.conftest import queue

pytestmark = pytest.mark.django_db


def answer_rating(crisis, volunteer) -> None:
    lease = services.lease_grant(crisis=crisis, volunteer=volunteer, kind="rating")
    services.answer_submit(volunteer=volunteer, lease_id=lease.pk, kind="rating", difficulty="easy")


def age(seconds: float) -> None:
    LeaderboardEntry.objects.update(computed_at=timezone.now() - timedelta(seconds=seconds))


@pytest.fixture(autouse=True)
def _max_age(settings):
    settings.CROWD_LEADERBOARD_MAX_AGE_SECONDS = 5
    cache.clear()


class TestLeaderboardFresh:
    def test_a_leaderboard_younger_than_its_max_age_is_kept_and_an_older_one_recomputed(self, crisis, volunteers):
        queue(crisis, eases=(0.9, 0.5))
        answer_rating(crisis, volunteers[0])
        services.leaderboard_fresh(crisis=crisis)
        assert list(LeaderboardEntry.objects.values_list("volunteer", "answers")) == [(volunteers[0].pk, 1)]
        answer_rating(crisis, volunteers[1])
        cache.clear()
        services.leaderboard_fresh(crisis=crisis)
        assert LeaderboardEntry.objects.count() == 1  # 0 s old: kept
        age(6)
        services.leaderboard_fresh(crisis=crisis)
        assert LeaderboardEntry.objects.count() == 2

    def test_while_one_request_recomputes_the_others_read_the_previous_leaderboard(self, crisis, volunteers):
        queue(crisis, eases=(0.9, 0.5))
        answer_rating(crisis, volunteers[0])
        services.leaderboard_refresh(crisis_id=crisis.pk)
        answer_rating(crisis, volunteers[1])
        age(60)
        cache.add(f"leaderboard-refresh:{crisis.pk}", 1, timeout=30)  # another request holds the recomputation
        services.leaderboard_fresh(crisis=crisis)
        assert LeaderboardEntry.objects.count() == 1


class TestLeaderboardApi:
    def test_it_gives_the_ranked_entries_with_their_time_and_age(self, crisis, volunteers):
        queue(crisis, eases=(0.9, 0.5))
        answer_rating(crisis, volunteers[1])
        answer_rating(crisis, volunteers[1])
        answer_rating(crisis, volunteers[0])
        response = Client().get(f"/api/crises/{crisis.slug}/leaderboard/")
        assert response.status_code == 200
        body = response.json()
        assert [(e["rank"], e["name"], e["answers"], e["answers_text"]) for e in body["entries"]] == [
            (1, volunteers[1].username, 2, "2 answers"),
            (2, volunteers[0].username, 1, "1 answer"),
        ]
        assert body["computed_at"] is not None and 0 <= body["age_seconds"] < 5

    def test_a_crisis_with_no_answers_has_an_empty_leaderboard(self, crisis):
        body = Client().get(f"/api/crises/{crisis.slug}/leaderboard/").json()
        assert body == {"computed_at": None, "age_seconds": None, "entries": []}

    def test_a_draft_crisis_s_leaderboard_is_hidden_like_the_crisis(self, people):
        draft = people["crisis"]
        assert Client().get(f"/api/crises/{draft.slug}/leaderboard/").status_code == 404
