"""Services of crowd work against the database: grants, redundancy, skips, expiry, late answers, policies."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from crawling.models import Media
from crawling.services import media_advance
from geoloc_platform.crises.models import Crisis
from geoloc_platform.crises.services import crisis_transition
from tasks_app import services
from tasks_app.errors import AlreadyAnswered, CannotContribute, LeaseExpired, LeaseNotYours, NotQueueable
from tasks_app.models import Answer, Assignment, CrowdTask, LeaderboardEntry, Report
from tests.tasks_app.conftest import add_media, queue, with_record

GEO = CrowdTask.Kind.GEOLOCATION
RATE = CrowdTask.Kind.RATING


def answer_geo(volunteer, lease, lat=-30.03, lon=-51.2, **extra):
    return services.answer_submit(
        volunteer=volunteer, lease_id=lease.pk, kind=GEO, lat=lat, lon=lon, precision="high", **extra
    )


def task_of(media, kind=GEO) -> CrowdTask:
    return CrowdTask.objects.get(media=media, kind=kind)


class TestLeaseGrant:
    def test_grant_takes_a_slot_and_moves_the_image_into_crowd_work(self, crisis, volunteers):
        (image,) = queue(crisis)
        lease = services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO)
        assert lease.task.media_id == image.pk
        assert lease.state == Assignment.State.LEASED
        assert task_of(image).slots_taken == 1
        image.refresh_from_db()
        assert image.stage == Media.Stage.IN_CROWD_WORK

    def test_easy_images_come_first_under_difficulty_priority(self, crisis, volunteers):
        hard, easy, medium = queue(crisis, eases=(0.1, 0.9, 0.5))
        order = [services.lease_grant(crisis=crisis, volunteer=v, kind=GEO).task.media_id for v in volunteers[:9:3]]
        # Each volunteer takes the first task with room: redundancy 3 keeps the easiest on top for all three.
        assert order == [easy.pk, easy.pk, easy.pk]
        fourth = services.lease_grant(crisis=crisis, volunteer=volunteers[1], kind=GEO)
        assert fourth.task.media_id == medium.pk
        assert hard.pk not in order

    def test_redundancy_is_never_exceeded(self, crisis, volunteers):
        (image,) = queue(crisis)
        leases = [services.lease_grant(crisis=crisis, volunteer=v, kind=GEO) for v in volunteers]
        granted = [lease for lease in leases if lease is not None]
        assert len(granted) == crisis.geolocation_redundancy == 3
        task = task_of(image)
        assert task.slots_taken == 3
        assert task.status == CrowdTask.Status.FULL

    def test_a_volunteer_is_never_handed_the_same_image_twice(self, crisis, volunteers):
        queue(crisis, eases=(0.9, 0.5))
        seen = []
        for _ in range(3):
            lease = services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO)
            if lease is None:
                break
            seen.append(lease.task.media_id)
            answer_geo(volunteers[0], lease)
        assert len(seen) == 2
        assert len(set(seen)) == 2

    def test_a_running_lease_is_resumed_when_the_page_is_reloaded(self, crisis, volunteers):
        queue(crisis, eases=(0.9, 0.5))
        first = services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO)
        again = services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO)
        assert again.pk == first.pk
        assert CrowdTask.objects.get(pk=first.task_id).slots_taken == 1

    def test_a_skipped_image_goes_to_others_but_never_back_to_the_skipper(self, crisis, volunteers):
        (image,) = queue(crisis)
        crowd = volunteers[:3]
        leases = [services.lease_grant(crisis=crisis, volunteer=v, kind=GEO) for v in crowd]
        assert services.lease_grant(crisis=crisis, volunteer=volunteers[3], kind=GEO) is None  # full
        services.lease_skip(lease_id=leases[0].pk, volunteer=crowd[0])
        assert services.lease_grant(crisis=crisis, volunteer=crowd[0], kind=GEO) is None
        other = services.lease_grant(crisis=crisis, volunteer=volunteers[3], kind=GEO)
        assert other.task.media_id == image.pk
        assert task_of(image).slots_taken == 3

    def test_images_predicted_impossible_are_withheld_until_a_coordinator_releases_them(
        self, crisis, volunteers, people
    ):
        (image,) = queue(crisis, eases=(None,), labels=["impossible"])
        assert task_of(image).status == CrowdTask.Status.WITHHELD
        assert services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO) is None
        services.task_release(task_ids=[task_of(image).pk], user=people["coordinator"])
        assert services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO).task.media_id == image.pk

    def test_breadth_first_gives_every_image_an_answer_before_any_gets_a_second(self, crisis, volunteers):
        Crisis.objects.filter(pk=crisis.pk).update(scheduling_policy=Crisis.SchedulingPolicy.BREADTH_FIRST)
        crisis.refresh_from_db()
        images = queue(crisis, eases=(0.9, 0.5, 0.1))
        handed = [services.lease_grant(crisis=crisis, volunteer=v, kind=GEO).task.media_id for v in volunteers[:3]]
        assert sorted(handed) == sorted(image.pk for image in images)

    def test_depth_first_finishes_an_image_before_starting_the_next(self, crisis, volunteers):
        Crisis.objects.filter(pk=crisis.pk).update(scheduling_policy=Crisis.SchedulingPolicy.DEPTH_FIRST)
        crisis.refresh_from_db()
        first, second = queue(crisis, eases=(0.1, 0.9))
        handed = [services.lease_grant(crisis=crisis, volunteer=v, kind=GEO).task.media_id for v in volunteers[:4]]
        assert handed == [first.pk, first.pk, first.pk, second.pk]

    def test_random_policy_hands_out_every_image_in_the_order_of_its_random_keys(self, crisis, volunteers):
        Crisis.objects.filter(pk=crisis.pk).update(scheduling_policy=Crisis.SchedulingPolicy.RANDOM)
        crisis.refresh_from_db()
        images = queue(crisis, eases=(0.9, 0.5, 0.1))
        expected = list(
            CrowdTask.objects.filter(kind=GEO, media__in=images).order_by("random_key").values_list("media", flat=True)
        )
        handed = []
        for _ in images:
            lease = services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO)
            handed.append(lease.task.media_id)
            answer_geo(volunteers[0], lease)
        assert handed == expected

    def test_experienced_volunteers_get_the_difficult_images_first(self, crisis, volunteers):
        hard, easy = queue(crisis, eases=(0.1, 0.9))
        services.volunteer_skill_set(user_id=volunteers[0].pk, skill=0.95)
        assert services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO).task.media_id == hard.pk
        assert services.lease_grant(crisis=crisis, volunteer=volunteers[1], kind=GEO).task.media_id == easy.pk

    def test_a_paused_crisis_hands_out_nothing(self, crisis, volunteers, people):
        queue(crisis)
        crisis_transition(crisis=crisis, action="pause", user=people["coordinator"])
        crisis.refresh_from_db()
        with pytest.raises(CannotContribute):
            services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO)
        assert Assignment.objects.count() == 0

    def test_rating_and_geolocation_are_scheduled_separately(self, crisis, volunteers):
        (image,) = queue(crisis)
        rating = services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=RATE)
        geolocation = services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO)
        assert rating.task.kind == RATE and geolocation.task.kind == GEO
        assert rating.task.media_id == geolocation.task.media_id == image.pk
        assert task_of(image, RATE).redundancy == 5


class TestLeaseExpiry:
    def test_expiry_returns_the_slot(self, crisis, volunteers):
        (image,) = queue(crisis)
        leases = [services.lease_grant(crisis=crisis, volunteer=v, kind=GEO) for v in volunteers[:3]]
        later = timezone.now() + timedelta(seconds=601)
        assert services.lease_expire_due(now=later) == 3
        assert services.lease_expire_due(now=later) == 0  # a second sweep returns nothing twice
        task = task_of(image)
        assert (task.slots_taken, task.status) == (0, CrowdTask.Status.OPEN)
        assert {lease.state for lease in Assignment.objects.all()} == {Assignment.State.EXPIRED}
        assert len(leases) == 3

    def test_a_grant_expires_overdue_leases_lazily(self, crisis, volunteers):
        (image,) = queue(crisis)
        past = timezone.now() - timedelta(hours=1)
        for volunteer in volunteers[:3]:
            services.lease_grant(crisis=crisis, volunteer=volunteer, kind=GEO, now=past)
        lease = services.lease_grant(crisis=crisis, volunteer=volunteers[3], kind=GEO)
        assert lease is not None and lease.task.media_id == image.pk
        assert task_of(image).slots_taken == 1

    def test_a_heartbeat_extends_the_lease_up_to_the_maximum(self, crisis, volunteers, settings):
        queue(crisis)
        lease = services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO)
        soon = lease.leased_at + timedelta(seconds=550)
        beat = services.lease_heartbeat(lease_id=lease.pk, volunteer=volunteers[0], now=soon)
        assert beat.expires_at == soon + timedelta(seconds=settings.CROWD_HEARTBEAT_EXTENSION_SECONDS)
        much_later = lease.leased_at + timedelta(seconds=settings.CROWD_LEASE_MAX_SECONDS - 10)
        Assignment.objects.filter(pk=lease.pk).update(expires_at=much_later + timedelta(seconds=5))
        capped = services.lease_heartbeat(lease_id=lease.pk, volunteer=volunteers[0], now=much_later)
        assert capped.expires_at == lease.leased_at + timedelta(seconds=settings.CROWD_LEASE_MAX_SECONDS)

    def test_a_late_answer_is_accepted_while_the_image_still_needs_answers(self, crisis, volunteers):
        (image,) = queue(crisis)
        lease = services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO)
        services.lease_expire_due(now=timezone.now() + timedelta(hours=1))
        answer = answer_geo(volunteers[0], lease)
        assert answer.is_late
        task = task_of(image)
        assert (task.slots_taken, task.answers_count) == (1, 1)

    def test_a_late_answer_is_refused_when_the_slots_went_to_others_and_nothing_changes(self, crisis, volunteers):
        (image,) = queue(crisis)
        late = services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO)
        services.lease_expire_due(now=timezone.now() + timedelta(hours=1))
        for volunteer in volunteers[1:4]:
            services.lease_grant(crisis=crisis, volunteer=volunteer, kind=GEO)
        with pytest.raises(LeaseExpired):
            answer_geo(volunteers[0], late)
        task = task_of(image)
        assert (task.slots_taken, task.answers_count, Answer.objects.count()) == (3, 0, 0)
        assert Assignment.objects.get(pk=late.pk).state == Assignment.State.EXPIRED

    def test_a_heartbeat_revives_an_expired_lease_when_there_is_room(self, crisis, volunteers):
        (image,) = queue(crisis)
        lease = services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO)
        services.lease_expire_due(now=timezone.now() + timedelta(hours=1))
        revived = services.lease_heartbeat(lease_id=lease.pk, volunteer=volunteers[0])
        assert revived.state == Assignment.State.LEASED
        assert task_of(image).slots_taken == 1


class TestAnswerSubmit:
    def test_the_task_is_done_when_the_redundancy_is_answered(self, crisis, volunteers):
        (image,) = queue(crisis)
        for volunteer in volunteers[:3]:
            answer_geo(volunteer, services.lease_grant(crisis=crisis, volunteer=volunteer, kind=GEO))
        task = task_of(image)
        assert (task.status, task.answers_count, task.slots_taken) == (CrowdTask.Status.DONE, 3, 3)

    def test_a_second_submission_is_refused_and_changes_nothing(self, crisis, volunteers):
        (image,) = queue(crisis)
        lease = services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO)
        answer_geo(volunteers[0], lease)
        with pytest.raises(AlreadyAnswered):
            answer_geo(volunteers[0], lease, lat=10.0)
        assert Answer.objects.count() == 1
        assert task_of(image).answers_count == 1

    def test_someone_elses_lease_is_refused(self, crisis, volunteers):
        queue(crisis)
        lease = services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO)
        with pytest.raises(LeaseNotYours):
            answer_geo(volunteers[1], lease)
        assert Answer.objects.count() == 0

    def test_consensus_is_told_about_each_answer_on_commit(
        self, crisis, volunteers, django_capture_on_commit_callbacks
    ):
        (image,) = queue(crisis)
        received = []

        def listener(sender, **kwargs):
            received.append(kwargs)

        services.answer_submitted.connect(listener)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                lease = services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=RATE)
                services.answer_submit(volunteer=volunteers[0], lease_id=lease.pk, kind=RATE, difficulty="easy")
        finally:
            services.answer_submitted.disconnect(listener)
        assert [(r["media_id"], r["kind"]) for r in received] == [(image.pk, RATE)]

    def test_a_report_routes_the_image_to_coordinators_and_enough_reports_withhold_it(self, crisis, volunteers):
        (image,) = queue(crisis)
        for volunteer in volunteers[:2]:
            lease = services.lease_grant(crisis=crisis, volunteer=volunteer, kind=GEO)
            services.lease_skip(lease_id=lease.pk, volunteer=volunteer, report_reason="edited_or_fake")
        assert Report.objects.filter(media=image).count() == 2
        assert task_of(image).status == CrowdTask.Status.WITHHELD
        assert task_of(image, RATE).status == CrowdTask.Status.WITHHELD


class TestGold:
    def test_a_gold_image_tells_the_volunteer_how_far_off_they_were(self, crisis, volunteers, settings):
        settings.CROWD_GOLD_RATE = 1.0
        queue(crisis)
        (gold_image,) = add_media(crisis)
        services.gold_task_create(media_id=gold_image.pk, lat=-30.0, lon=-51.2)
        lease = services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO, rng=random.Random(1))
        assert lease.task.media_id == gold_image.pk
        answer = answer_geo(volunteers[0], lease, lat=-30.00315, lon=-51.2)  # about 350 m south
        assert answer.is_gold
        assert 340 < answer.gold_error_m < 360
        assert services.gold_feedback(answer=answer) == "Practice image: you were 350 m off."

    def test_the_gold_rate_tapers_with_experience_down_to_a_floor(self, settings):
        settings.CROWD_GOLD_RATE, settings.CROWD_GOLD_TAPER_ANSWERS, settings.CROWD_GOLD_MIN_RATE = 0.2, 20, 0.02
        rates = [services.gold_rate(answered=n) for n in (0, 20, 180, 10_000)]
        assert rates == [0.2, 0.1, pytest.approx(0.02), 0.02]


class TestQueueing:
    def test_the_pipeline_step_queues_a_scored_image_with_its_tasks(self, crisis, django_capture_on_commit_callbacks):
        (image,) = add_media(crisis, stage=Media.Stage.TEXT_GEOLOCATED)
        with django_capture_on_commit_callbacks(execute=True):
            media_advance(
                media_id=image.pk, from_stage=Media.Stage.TEXT_GEOLOCATED, to_stage=Media.Stage.DIFFICULTY_SCORED
            )
        image.refresh_from_db()
        assert image.stage == Media.Stage.QUEUED
        assert set(CrowdTask.objects.filter(media=image).values_list("kind", flat=True)) == {RATE, GEO}

    def test_queueing_by_hand_works_from_fetched_and_a_second_call_changes_nothing(self, crisis):
        (image,) = add_media(crisis, stage=Media.Stage.FETCHED)
        assert services.media_queue_for_crowd(media_id=image.pk, predicted_ease=0.8) is True
        assert services.media_queue_for_crowd(media_id=image.pk, predicted_ease=0.1) is False
        assert CrowdTask.objects.filter(media=image).count() == 2
        assert task_of(image).predicted_ease == 0.8

    def test_a_rejected_image_cannot_be_queued(self, crisis):
        (image,) = add_media(crisis, stage=Media.Stage.REJECTED)
        with pytest.raises(NotQueueable):
            services.media_queue_for_crowd(media_id=image.pk)
        assert not CrowdTask.objects.exists()

    def test_images_near_already_queued_ones_rank_lower_for_coverage(self, crisis):
        near = {"geo_lat": -30.03, "geo_lon": -51.23}
        first = add_media(crisis, **near)[0]
        second = add_media(crisis, **near)[0]
        services.media_queue_for_crowd(media_id=first.pk)
        services.media_queue_for_crowd(media_id=second.pk)
        assert task_of(first).coverage == 1.0
        assert task_of(second).coverage == 0.5
        assert task_of(second).priority < task_of(first).priority


class TestLeaderboard:
    def test_the_leaderboard_ranks_volunteers_by_answers_and_ignores_gold(self, crisis, volunteers):
        queue(crisis, eases=(0.9, 0.5))
        for volunteer, count in ((volunteers[0], 1), (volunteers[1], 2)):
            for _ in range(count):
                answer_geo(volunteer, services.lease_grant(crisis=crisis, volunteer=volunteer, kind=GEO))
        services.leaderboard_refresh(crisis_id=crisis.pk)
        ranks = list(LeaderboardEntry.objects.filter(crisis=crisis).values_list("volunteer", "rank", "answers"))
        assert ranks == [(volunteers[1].pk, 1, 2), (volunteers[0].pk, 2, 1)]


class TestReview:
    def test_a_review_goes_to_someone_who_did_not_pin_the_image(self, crisis, volunteers):
        (image,) = queue(crisis)
        answer_geo(volunteers[0], services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO))
        services.crowd_review_task_create(media_id=image.pk, lat=-30.03, lon=-51.2, radius_m=40)
        with_record(volunteers[0])
        with_record(volunteers[1])
        assert services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind="review") is None
        review = services.lease_grant(crisis=crisis, volunteer=volunteers[1], kind="review")
        answer = services.answer_submit(volunteer=volunteers[1], lease_id=review.pk, kind="review", verdict="accept")
        assert answer.verdict == "accept" and answer.lat is None
        assert CrowdTask.objects.get(media=image, kind="review").status == CrowdTask.Status.DONE

    def test_consensus_can_ask_for_more_answers_on_a_finished_task(self, crisis, volunteers):
        (image,) = queue(crisis)
        for volunteer in volunteers[:3]:
            answer_geo(volunteer, services.lease_grant(crisis=crisis, volunteer=volunteer, kind=GEO))
        task = services.crowd_task_set_redundancy(task_id=task_of(image).pk, redundancy=5)
        assert (task.status, task.redundancy) == (CrowdTask.Status.OPEN, 5)
        assert services.lease_grant(crisis=crisis, volunteer=volunteers[3], kind=GEO).task_id == task.pk
        assert services.crowd_task_retire(task_id=task.pk, reason="consensus: 3 pins within 25 m")
        assert services.lease_grant(crisis=crisis, volunteer=volunteers[4], kind=GEO) is None


def test_every_committed_answer_is_sent_to_the_consensus_app(
    crisis, volunteers, monkeypatch, django_capture_on_commit_callbacks
):
    import consensus.tasks

    sent = []
    monkeypatch.setattr(consensus.tasks.answer_recorded, "delay", sent.append)
    queue(crisis)
    with django_capture_on_commit_callbacks(execute=True):
        lease = services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO)
        answer = answer_geo(volunteers[0], lease)
    assert sent == [answer.pk]
