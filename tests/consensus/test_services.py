"""Consensus services against the database: ratings, locations, retirement, audit, skill."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from consensus import services
from consensus.models import (
    CrisisRatingStats,
    LocationConsensus,
    LocationConsensusChange,
    RatingConsensus,
    VolunteerSkill,
)
from crawling.models import Media, Post
from geoloc_platform.exceptions import InvalidTransition
from tasks_app.models import Answer, Assignment, CrowdTask
from tests.conftest import make_crisis, make_user

pytestmark = pytest.mark.django_db

CANOAS = (-29.9178, -51.1839)


@pytest.fixture
def crisis():
    """A crisis under the fixed rule with no record required: three agreeing pins publish (tests/consensus/
    test_trust.py covers adaptive redundancy and the trust rule, the defaults)."""
    return make_crisis(redundancy_policy="fixed", publish_requires_record=False)


@pytest.fixture
def volunteers():
    return [make_user(f"v{i}") for i in range(6)]


def make_media(crisis, n: int, stage=Media.Stage.IN_CROWD_WORK) -> Media:
    post = Post.objects.create(crisis=crisis, source=Post.Source.CSV, source_id=f"post-{n}", text="Flood")
    return Media.objects.create(crisis=crisis, post=post, stage=stage)


def task_for(media, kind, redundancy) -> CrowdTask:
    task, _ = CrowdTask.objects.get_or_create(
        media=media, kind=kind, defaults={"crisis": media.crisis, "redundancy": redundancy}
    )
    return task


def answer(media, volunteer, kind, *, redundancy=3, **fields) -> Answer:
    """An answer as answer_submit leaves it: a closed assignment, the task's slot and answer counted."""
    task = task_for(media, kind, redundancy)
    if task.slots_taken >= task.redundancy:
        CrowdTask.objects.filter(pk=task.pk).update(redundancy=task.slots_taken + 1)
    CrowdTask.objects.filter(pk=task.pk).update(
        slots_taken=task.slots_taken + 1, answers_count=task.answers_count + 1, status=CrowdTask.Status.FULL
    )
    assignment = Assignment.objects.create(
        task=task, volunteer=volunteer, state="answered", expires_at=timezone.now() + timedelta(minutes=5)
    )
    return Answer.objects.create(
        assignment=assignment, task=task, crisis=media.crisis, media=media, volunteer=volunteer, kind=kind, **fields
    )


def pin(media, volunteer, lat, lon, precision="high"):
    return answer(media, volunteer, CrowdTask.Kind.GEOLOCATION, lat=lat, lon=lon, precision=precision)


def cannot(media, volunteer):
    return answer(media, volunteer, CrowdTask.Kind.GEOLOCATION, precision="cannot")


class TestRatingConsensus:
    def test_clear_majorities_become_labels_with_agreement_statistics(self, crisis, volunteers):
        images = [make_media(crisis, n) for n in range(3)]
        truth = ["easy", "difficult", "impossible"]
        for image, label in zip(images, truth, strict=True):
            for volunteer in volunteers[:5]:
                answer(image, volunteer, CrowdTask.Kind.RATING, redundancy=5, difficulty=label)
        answer(images[0], volunteers[5], CrowdTask.Kind.RATING, redundancy=6, difficulty="medium")

        assert services.rating_consensus_update(crisis_id=crisis.pk) == 3
        labels = dict(RatingConsensus.objects.values_list("media_id", "label"))
        assert [labels[image.pk] for image in images] == truth
        stats = CrisisRatingStats.objects.get(crisis=crisis)
        assert (stats.n_ratings, stats.n_images, stats.n_volunteers) == (16, 3, 6)
        assert 0.5 < stats.fleiss_kappa <= 1
        assert VolunteerSkill.objects.filter(crisis=crisis).count() == 6

    def test_running_twice_gives_the_same_rows(self, crisis, volunteers):
        image = make_media(crisis, 0)
        for volunteer, label in zip(volunteers, ["easy", "easy", "medium"], strict=False):
            answer(image, volunteer, CrowdTask.Kind.RATING, redundancy=3, difficulty=label)
        services.rating_consensus_update(crisis_id=crisis.pk)
        first = list(RatingConsensus.objects.values("media_id", "label", "posterior", "warnings"))
        services.rating_consensus_update(crisis_id=crisis.pk)
        assert list(RatingConsensus.objects.values("media_id", "label", "posterior", "warnings")) == first

    def test_a_tie_is_warned_and_asks_for_more_ratings(self, crisis, volunteers):
        image = make_media(crisis, 0)
        for volunteer, label in zip(volunteers, ["easy", "difficult"], strict=False):
            answer(image, volunteer, CrowdTask.Kind.RATING, redundancy=2, difficulty=label)
        services.rating_consensus_update(crisis_id=crisis.pk)
        result = RatingConsensus.objects.get(media=image)
        assert "mv_tie" in result.warnings
        assert CrowdTask.objects.get(media=image, kind="rating").redundancy == crisis.rating_redundancy + 2

    def test_skips_are_not_ratings(self, crisis, volunteers):
        assert services.rating_consensus_update(crisis_id=crisis.pk) == 0
        assert not RatingConsensus.objects.exists()


class TestLocationConsensus:
    def test_agreeing_pins_publish_the_image_retire_the_task_and_ask_for_a_review(self, crisis, volunteers):
        image = make_media(crisis, 0)
        for volunteer, (dlat, dlon) in zip(volunteers, [(0, 0), (0.0003, 0), (0, 0.0003)], strict=False):
            pin(image, volunteer, CANOAS[0] + dlat, CANOAS[1] + dlon)
        result = services.location_consensus_update(media_id=image.pk)

        assert result.status == LocationConsensus.Status.DONE
        assert result.lat == pytest.approx(CANOAS[0], abs=0.001) and result.radius_68_m == 150  # the medium floor
        assert result.precision == "medium"  # "high" stated without Street View or clues is capped
        assert Media.objects.get(pk=image.pk).stage == Media.Stage.PUBLISHED
        assert CrowdTask.objects.get(media=image, kind="geolocation").status == CrowdTask.Status.RETIRED
        assert CrowdTask.objects.filter(media=image, kind="review").exists()

    def test_without_a_drawn_area_agreeing_pins_in_another_country_go_to_a_coordinator(self, crisis, volunteers):
        """The crisis's countries are its extent then; which country a pin is in is read from the gazetteer's towns
        (invented here: one town at home, one abroad 500 km away), and a pin far from any town is not abroad."""
        from classification.models import Place
        from geoloc_platform.crises.models import Crisis

        for kind, country, lat, lon, radius_km in (
            ("country", "ZZ", 10.0, 10.0, 200.0),
            ("city", "ZZ", 10.0, 10.0, 3.0),
            ("city", "YY", 14.0, 12.0, 3.0),
        ):
            Place.objects.create(
                kind=kind, name=f"{kind} {country}", country_code=country, lat=lat, lon=lon, radius_km=radius_km,
                source_id=f"{kind}-{country}",
            )  # fmt: skip
        Crisis.objects.filter(pk=crisis.pk).update(affected_area=None, country_codes=["ZZ"], area_margin_km=10)
        spots = {"home": (10.01, 10.01), "abroad": (14.01, 12.01), "far from towns": (30.0, 30.0)}
        images = {name: make_media(crisis, n) for n, name in enumerate(spots)}
        for name, (lat, lon) in spots.items():
            for volunteer, step in zip(volunteers, (0, 0.0003, 0.0006), strict=False):
                pin(images[name], volunteer, lat + step, lon)
        status = {name: services.location_consensus_update(media_id=image.pk) for name, image in images.items()}

        assert status["home"].status == status["far from towns"].status == LocationConsensus.Status.DONE
        assert status["abroad"].status == LocationConsensus.Status.NEEDS_EXPERT_REVIEW
        # 497 km from the country's centre, less its radius (200 km) and the crisis's margin (10 km)
        assert "287 km outside the crisis's countries (ZZ)" in status["abroad"].reason
        assert Media.objects.get(pk=images["abroad"].pk).stage != Media.Stage.PUBLISHED
        review = CrowdTask.objects.get(media=images["abroad"], kind=CrowdTask.Kind.REVIEW)
        assert review.review_reason() == status["abroad"].reason  # the reviewer is told why
        with translation.override("pt"):  # in the reviewer's language
            assert review.review_reason().startswith("os marcadores estão a 287 km fora dos países da crise (ZZ)")

    def test_majority_cannot_geolocate_retires_the_image_as_such(self, crisis, volunteers):
        image = make_media(crisis, 0)
        cannot(image, volunteers[0])
        cannot(image, volunteers[1])
        pin(image, volunteers[2], *CANOAS)
        result = services.location_consensus_update(media_id=image.pk)
        assert result.status == LocationConsensus.Status.CANNOT_GEOLOCATE
        assert Media.objects.get(pk=image.pk).stage == Media.Stage.CANNOT_GEOLOCATE

    def test_two_far_sites_are_ambiguous_not_averaged_and_go_to_review_at_the_maximum(
        self, crisis, volunteers, settings
    ):
        settings.CONSENSUS_MAX_GEOLOCATION_ANSWERS = 4
        image = make_media(crisis, 0)
        porto_alegre = (-30.0346, -51.2177)
        for volunteer, site in zip(volunteers, [CANOAS, porto_alegre, CANOAS, porto_alegre], strict=False):
            pin(image, volunteer, *site)
            result = services.location_consensus_update(media_id=image.pk)
        assert result.ambiguous and result.lat is None and len(result.candidates) == 2
        assert result.status == LocationConsensus.Status.NEEDS_EXPERT_REVIEW
        assert Media.objects.get(pk=image.pk).stage == Media.Stage.NEEDS_REVIEW

    def test_too_few_answers_keep_the_image_in_crowd_work_and_a_full_task_gets_a_slot_more(self, crisis, volunteers):
        image = make_media(crisis, 0)
        pin(image, volunteers[0], *CANOAS)
        pin(image, volunteers[1], CANOAS[0] + 0.05, CANOAS[1])  # 5.5 km apart: too wide for the target
        pin(image, volunteers[2], CANOAS[0] - 0.05, CANOAS[1])
        result = services.location_consensus_update(media_id=image.pk)
        assert result.status == LocationConsensus.Status.NEEDS_MORE_ANSWERS
        assert Media.objects.get(pk=image.pk).stage == Media.Stage.IN_CROWD_WORK
        assert CrowdTask.objects.get(media=image, kind="geolocation").redundancy == 4

    def test_second_run_changes_nothing(self, crisis, volunteers):
        image = make_media(crisis, 0)
        for volunteer in volunteers[:3]:
            pin(image, volunteer, *CANOAS)
        first = services.location_consensus_update(media_id=image.pk)
        second = services.location_consensus_update(media_id=image.pk)
        assert (first.pk, first.status, first.lat) == (second.pk, second.status, second.lat)
        assert CrowdTask.objects.filter(media=image, kind="review").count() == 1

    def test_duplicates_share_the_result_of_their_representative(self, crisis, volunteers):
        image = make_media(crisis, 0)
        duplicate = make_media(crisis, 1, stage=Media.Stage.DUPLICATE)
        Media.objects.filter(pk=duplicate.pk).update(duplicate_of=image)
        for volunteer in volunteers[:3]:
            pin(image, volunteer, *CANOAS)
        services.location_consensus_update(media_id=image.pk)
        copy = LocationConsensus.objects.get(media=duplicate)
        assert (copy.lat, copy.copied_from_id, copy.status) == (pytest.approx(CANOAS[0], abs=1e-3), image.pk, "done")
        assert Media.objects.get(pk=duplicate.pk).stage == Media.Stage.DUPLICATE

    def test_volunteer_skill_reflects_distance_to_consensus(self, crisis, volunteers, settings):
        image = make_media(crisis, 0)
        for volunteer in volunteers[:3]:
            pin(image, volunteer, *CANOAS)
        services.location_consensus_update(media_id=image.pk)
        skill = VolunteerSkill.objects.get(volunteer=volunteers[0], crisis=crisis)
        assert skill.median_distance_to_consensus_m == pytest.approx(0, abs=1)
        assert settings.CROWD_NEWCOMER_SKILL < skill.skill < 0.5  # one precise pin is little evidence yet
        assert volunteers[0].crowd_profile.skill == pytest.approx(skill.skill)

    def test_skill_grows_with_evidence_to_expert_level_and_sloppy_pins_stay_low(self, settings):
        precise = VolunteerSkill(n_geolocations=60, median_distance_to_consensus_m=10.0)
        sloppy = VolunteerSkill(n_geolocations=60, median_distance_to_consensus_m=5000.0)
        assert services.skill_score(precise) > settings.CROWD_EXPERT_SKILL
        assert services.skill_score(sloppy) < settings.CROWD_NEWCOMER_SKILL
        assert services.skill_score(VolunteerSkill()) == settings.CROWD_NEWCOMER_SKILL


class TestCoordinatorChanges:
    @pytest.fixture
    def consensus(self, crisis, volunteers):
        image = make_media(crisis, 0)
        for volunteer in volunteers[:3]:
            pin(image, volunteer, *CANOAS)
        return services.location_consensus_update(media_id=image.pk)

    def test_move_is_audited_with_before_and_after(self, consensus, volunteers):
        coordinator = volunteers[5]
        moved = services.location_consensus_change(
            consensus=consensus, action="move", user=coordinator, lat=-29.9, lon=-51.2, note="matched in Street View"
        )
        assert (moved.lat, moved.lon, moved.review) == (-29.9, -51.2, "moved")
        change = LocationConsensusChange.objects.get()
        assert (change.from_lat, change.to_lat, change.changed_by) == (
            pytest.approx(CANOAS[0], abs=1e-3),
            -29.9,
            coordinator,
        )

    def test_invalid_coordinates_are_refused_and_change_nothing(self, consensus, volunteers):
        with pytest.raises(InvalidTransition):
            services.location_consensus_change(consensus=consensus, action="move", user=volunteers[5], lat=91, lon=0)
        consensus.refresh_from_db()
        assert consensus.review == "automatic" and not LocationConsensusChange.objects.exists()

    def test_reject_takes_the_image_off_the_map_and_back_to_review(self, consensus, volunteers):
        services.location_consensus_change(consensus=consensus, action="reject", user=volunteers[5])
        assert Media.objects.get(pk=consensus.media_id).stage == Media.Stage.NEEDS_REVIEW
        from consensus.selectors import location_consensus_for_map

        assert not location_consensus_for_map(crisis_id=consensus.crisis_id).exists()
