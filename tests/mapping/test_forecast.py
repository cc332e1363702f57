"""The dashboard's forecast: measured rates applied to the queue, easiest first, with stated assumptions."""

from dataclasses import asdict
from datetime import timedelta

import pytest
from django.utils import timezone

from consensus.models import LocationConsensus
from mapping.forecast import CHECKS_ON_TOP, _images_done, crisis_forecast
from tasks_app.models import Answer, Assignment, CrowdTask
from tests.conftest import make_crisis, make_user
from tests.tasks_app.conftest import queue

pytestmark = pytest.mark.django_db


def answered(task, volunteer, at):
    assignment = Assignment.objects.create(task=task, volunteer=volunteer, state="answered", expires_at=at)
    Answer.objects.create(
        assignment=assignment,
        task=task,
        crisis=task.crisis,
        media=task.media,
        volunteer=volunteer,
        kind=task.kind,
        lat=-30.0,
        lon=-51.2,
        precision="high",
        submitted_at=at,
    )


def test_measured_rates_give_published_counts_and_volunteers_needed():
    crisis = make_crisis()
    now = timezone.now()
    done_images = queue(crisis, eases=(0.9, 0.9, 0.9), kinds=("geolocation",))
    volunteers = [make_user("a"), make_user("b")]
    # Each volunteer answers 3 times over one hour: 3 answers per volunteer-hour.
    for volunteer in volunteers:
        for minutes, image in zip((0, 30, 60), done_images, strict=True):
            answered(CrowdTask.objects.get(media=image), volunteer, now - timedelta(minutes=60 - minutes))
    for image in done_images:
        LocationConsensus.objects.create(media=image, crisis=crisis, status="done", reason="", n_answers=3)
    CrowdTask.objects.filter(media__in=done_images).update(status=CrowdTask.Status.RETIRED)
    queue(crisis, eases=(0.9,) * 4, labels=["easy"] * 4, kinds=("geolocation",))
    queue(crisis, eases=(0.2,) * 2, labels=["difficult"] * 2, kinds=("geolocation",))

    forecast = crisis_forecast(crisis_id=crisis.pk, now=now)
    assert forecast.active_volunteers == 2
    assert forecast.answers_per_volunteer_hour == pytest.approx(3.0)
    assert forecast.answers_per_published_image == pytest.approx(3.0)
    assert forecast.queue["easy"] == {"images": 4, "answers_needed": 12.0}
    assert forecast.published_within == {"1h": 2, "4h": 6, "8h": 6}  # 6 answers an hour, 3 an image, easy first
    assert forecast.clear_easy_medium_hours == pytest.approx(2.0)
    assert forecast.volunteers_needed == {"1h": 4, "4h": 1, "8h": 1}
    assert [a.text for a in forecast.assumptions][-1] == CHECKS_ON_TOP and len(forecast.assumptions) == 4


def test_the_checks_are_named_only_where_the_crisis_requires_them():
    crisis = make_crisis(publish_requires_record=False)
    forecast = crisis_forecast(crisis_id=crisis.pk, now=timezone.now())
    assert CHECKS_ON_TOP not in [a.text for a in forecast.assumptions]


def test_without_recent_answers_there_is_no_forecast_only_its_assumptions():
    crisis = make_crisis()
    queue(crisis, eases=(0.9,), labels=["easy"], kinds=("geolocation",))
    forecast = crisis_forecast(crisis_id=crisis.pk, now=timezone.now())
    assert forecast.answers_per_volunteer_hour is None and forecast.published_within == {}
    assert forecast.assumptions


def test_easiest_images_are_spent_first_and_a_bucket_left_unfinished_stops_the_count():
    queue_by_label = {"easy": {"images": 2, "answers_needed": 6}, "difficult": {"images": 1, "answers_needed": 3}}
    assert _images_done(queue_by_label, 5) == 1
    assert _images_done(queue_by_label, 9) == 3


def test_stored_assumptions_are_said_with_their_numbers_in_the_active_language():
    from mapping.forecast import ANSWERS_MEASURED, Assumption, assumptions_said

    stored = [asdict(Assumption(ANSWERS_MEASURED, {"answers": 3.5})), "An older snapshot's plain sentence."]
    english = assumptions_said(stored)
    assert english == [
        "An image takes 3.5 answers to publish (the measured mean, or its remaining slots when more).",
        "An older snapshot's plain sentence.",
    ]
